// The rules file as a whole: comments, first match wins, errors reported with
// file:line for every bad line, the built-in rules after the file's, loading
// from XLANE_CONFIG or the default path, and the reasons decide() gives.
#include "config/rule_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

using namespace xlane;
using namespace xlane::config;

namespace {

Endpoint endpoint(const char* text) {
    return Endpoint::parse(text).value();
}

Decision as_client(const RuleSet& rules, L4Proto proto, const char* remote) {
    return rules.decide(proto, SocketRole::client, endpoint("198.18.0.1:40000"), endpoint(remote));
}

Decision as_server(const RuleSet& rules, L4Proto proto, const char* local) {
    return rules.decide(proto, SocketRole::server, endpoint(local), endpoint("0.0.0.0:0"));
}

RuleSet parse(const char* text, const char* source = "rules.conf") {
    auto parsed = RuleSet::parse(text, source);
    INFO((parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    return std::move(parsed).value();
}

// A file under /tmp with a unique name, removed on every exit path.
class TempPath {
  public:
    TempPath() {
        char name[] = "/tmp/xlane-rules-test-XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        path_ = name;
    }
    ~TempPath() {
        ::unlink(path_.c_str());
        ::rmdir(path_.c_str());
    }
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;

    void write(const std::string& text) const {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    }
    void make_directory() const {
        REQUIRE(::unlink(path_.c_str()) == 0);
        REQUIRE(::mkdir(path_.c_str(), 0700) == 0);
    }
    [[nodiscard]] const std::string& path() const { return path_; }

  private:
    std::string path_;
};

Settings settings_with_config(const std::string* path) {
    auto loaded = load_settings([path](const char* name) -> const char* {
        if (path != nullptr && std::string(name) == "XLANE_CONFIG") return path->c_str();
        return nullptr;
    });
    REQUIRE(loaded.problems.empty());
    return loaded.settings;
}

}  // namespace

TEST_CASE("comments and blank lines are ignored; a comment may follow a rule") {
    const RuleSet rules = parse(
        "# xlane rules\n"
        "\n"
        "   # indented comment\n"
        "kernel udp client 198.18.0.9:7000   # the slow replica\n"
        "offload udp client *:7000#no space before the comment\n");
    CHECK(rules.file_rule_count() == 2);
    CHECK(rules.source() == "rules.conf");
    CHECK(as_client(rules, L4Proto::udp, "198.18.0.9:7000").rule ==
          "rules.conf:4: kernel udp client 198.18.0.9/32:7000");
    CHECK(as_client(rules, L4Proto::udp, "198.18.0.8:7000").rule ==
          "rules.conf:5: offload udp client *:7000");
}

TEST_CASE("the first matching rule wins, whatever follows") {
    const RuleSet rules = parse(
        "kernel tcp client 198.18.0.9:7000\n"
        "offload tcp client 198.18.0.0/15:7000-7100\n"
        "kernel tcp any *\n");
    const auto exact = as_client(rules, L4Proto::tcp, "198.18.0.9:7000");
    CHECK(exact.action == RuleAction::kernel);
    CHECK(exact.rule == "rules.conf:1: kernel tcp client 198.18.0.9/32:7000");
    const auto ranged = as_client(rules, L4Proto::tcp, "198.18.0.10:7050");
    CHECK(ranged.action == RuleAction::offload);
    CHECK(ranged.rule == "rules.conf:2: offload tcp client 198.18.0.0/15:7000-7100");
    const auto rest = as_client(rules, L4Proto::tcp, "198.18.0.10:8000");
    CHECK(rest.action == RuleAction::kernel);
    CHECK(rest.rule == "rules.conf:3: kernel tcp any *");

    // The same rules in the other order: the broad one shadows the rest.
    const RuleSet reversed =
        parse("kernel tcp any *\noffload tcp client 198.18.0.0/15:7000-7100\n");
    CHECK(as_client(reversed, L4Proto::tcp, "198.18.0.10:7050").action == RuleAction::kernel);
}

TEST_CASE("every bad line is reported as file:line with what was expected") {
    auto parsed = RuleSet::parse(
        "offload udp client *:7000\n"
        "kernel udp clint *:53\n"
        "# fine\n"
        "offload sctp any *\n"
        "kernel udp client 198.18.0.1/15\n",
        "/etc/xlane.conf");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().errnum == 0);
    CHECK(parsed.error().describe() ==
          "/etc/xlane.conf:2: expected a role ('server', 'client' or 'any'), got 'clint'\n"
          "/etc/xlane.conf:4: expected a protocol ('udp', 'tcp' or 'any'), got 'sctp'\n"
          "/etc/xlane.conf:5: bad address '198.18.0.1/15': '198.18.0.1/15' has bits set after "
          "the prefix length (did you mean 198.18.0.0/15?)");
}

TEST_CASE("line numbers count every line, including a last line without a newline") {
    auto parsed = RuleSet::parse("\n\n# c\n\nkernel udp", "f");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message.starts_with("f:5: incomplete rule 'kernel udp'"));
    CHECK(parse("kernel udp client *:9", "f").file_rule_count() == 1);
    CHECK(parse("", "f").file_rule_count() == 0);
}

TEST_CASE("the built-in rules follow the file's and parse") {
    for (const auto& builtin : RuleSet::builtin_rules()) {
        auto parsed = Rule::parse(builtin.text);
        INFO(builtin.text);
        REQUIRE(parsed.ok());
        REQUIRE(parsed.value().has_value());
        CHECK(parsed.value()->to_string() == builtin.text);
        CHECK_FALSE(builtin.why.empty());
    }
    // The last one catches everything, so every socket gets a decision from a rule.
    const Rule last = *Rule::parse(RuleSet::builtin_rules().back().text).value();
    CHECK(last.protocol == ProtocolMatch::any);
    CHECK(last.role == RoleMatch::any);
    CHECK(last.endpoint.address.matches_everything());
    CHECK(last.endpoint.ports.is_any());
}

TEST_CASE("defaults: DNS, loopback, multicast and broadcast go to the kernel, the rest offloads") {
    const RuleSet rules;  // no rules file
    CHECK(rules.file_rule_count() == 0);
    for (auto proto : {L4Proto::udp, L4Proto::tcp}) {
        const auto dns = as_client(rules, proto, "198.18.0.53:53");
        CHECK(dns.action == RuleAction::kernel);
        CHECK(dns.rule == "default: kernel any any *:53 (DNS lookups stay with the kernel)");
        CHECK(as_client(rules, proto, "[fd00:198:18::53]:53").action == RuleAction::kernel);
        CHECK(as_server(rules, proto, "0.0.0.0:53").action == RuleAction::kernel);
    }
    CHECK(as_client(rules, L4Proto::tcp, "127.0.0.1:8080").action == RuleAction::kernel);
    CHECK(as_client(rules, L4Proto::tcp, "127.1.2.3:8080").action == RuleAction::kernel);
    CHECK(as_client(rules, L4Proto::tcp, "[::1]:8080").action == RuleAction::kernel);
    CHECK(as_server(rules, L4Proto::tcp, "127.0.0.1:8080").action == RuleAction::kernel);
    CHECK(as_client(rules, L4Proto::udp, "239.1.1.1:5000").action == RuleAction::kernel);
    CHECK(as_client(rules, L4Proto::udp, "[ff02::1]:5000").action == RuleAction::kernel);
    CHECK(as_client(rules, L4Proto::udp, "255.255.255.255:67").action == RuleAction::kernel);

    const auto rest = as_client(rules, L4Proto::tcp, "198.18.0.2:7000");
    CHECK(rest.action == RuleAction::offload);
    CHECK(rest.rule.starts_with("default: offload any any * ("));
    CHECK(as_server(rules, L4Proto::udp, "[::]:5000").action == RuleAction::offload);
    CHECK(as_client(rules, L4Proto::tcp, "[fd00:198:18::2]:7000").action == RuleAction::offload);
    // Port 53 only: 5353 (mDNS is multicast anyway) and 530 are not DNS.
    CHECK(as_client(rules, L4Proto::udp, "198.18.0.2:530").action == RuleAction::offload);
}

TEST_CASE("a file rule overrides a built-in one, e.g. to offload a DNS server") {
    const RuleSet rules = parse("offload udp server *:53\n");
    const auto dns_server = as_server(rules, L4Proto::udp, "198.18.0.1:53");
    CHECK(dns_server.action == RuleAction::offload);
    CHECK(dns_server.rule == "rules.conf:1: offload udp server *:53");
    // Lookups the same process makes still go to the kernel by default.
    CHECK(as_client(rules, L4Proto::udp, "198.18.0.53:53").action == RuleAction::kernel);
}

TEST_CASE("describe() lists every rule in the order decide() tries them") {
    const RuleSet rules = parse("kernel tcp any *:22\n", "x.conf");
    const std::string text = rules.describe();
    CHECK(text.starts_with("x.conf:1: kernel tcp any *:22\ndefault: kernel any any *:53 ("));
    size_t lines = 0;
    for (char c : text) lines += c == '\n';
    CHECK(lines == 1 + RuleSet::builtin_rules().size());
}

TEST_CASE("kernel_only sends every socket to the kernel with the reason given") {
    const RuleSet rules = RuleSet::kernel_only("rules file unusable: f:3: bad");
    for (auto proto : {L4Proto::udp, L4Proto::tcp}) {
        const auto d = as_client(rules, proto, "198.18.0.2:7000");
        CHECK(d.action == RuleAction::kernel);
        CHECK(d.rule == "rules file unusable: f:3: bad");
        CHECK(as_server(rules, proto, "[::]:7000").action == RuleAction::kernel);
    }
}

TEST_CASE("a rules file is read from disk with its path in origins and errors") {
    TempPath file;
    file.write("kernel udp client 198.18.0.9:7000\n");
    auto loaded = RuleSet::load_file(file.path(), true);
    REQUIRE(loaded.ok());
    CHECK(loaded->source() == file.path());
    CHECK(as_client(loaded.value(), L4Proto::udp, "198.18.0.9:7000").rule ==
          file.path() + ":1: kernel udp client 198.18.0.9/32:7000");

    file.write("offload udp client *:7000\nkernel udp client nowhere\n");
    auto bad = RuleSet::load_file(file.path(), false);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.starts_with(file.path() + ":2: bad address 'nowhere'"));
}

TEST_CASE("XLANE_CONFIG must name a readable file; the default file may be missing") {
    TempPath missing;
    const std::string missing_path = missing.path() + "-absent";

    const Settings named = settings_with_config(&missing_path);
    CHECK(named.config_path_required());
    auto required = RuleSet::load(named);
    REQUIRE_FALSE(required.ok());
    CHECK(required.error().errnum == ENOENT);
    CHECK(required.error().describe() == "cannot read rules file " + missing_path +
                                             " (named by XLANE_CONFIG): No such file or directory");

    // The same path as the (optional) default: no rules file, built-in rules only.
    Settings defaulted = settings_with_config(nullptr);
    CHECK_FALSE(defaulted.config_path_required());
    CHECK(defaulted.config_path == "/etc/xlane.conf");
    defaulted.config_path = missing_path;
    auto optional = RuleSet::load(defaulted);
    REQUIRE(optional.ok());
    CHECK(optional->file_rule_count() == 0);
    CHECK(optional->source().empty());
    CHECK(as_client(optional.value(), L4Proto::udp, "198.18.0.2:53").action == RuleAction::kernel);
}

TEST_CASE("a rules file that exists but cannot be read is an error even as the default") {
    TempPath dir;
    dir.make_directory();  // open() works, read() fails with EISDIR (also for root)
    auto as_default = RuleSet::load_file(dir.path(), false);
    REQUIRE_FALSE(as_default.ok());
    CHECK(as_default.error().errnum == EISDIR);
    CHECK(as_default.error().message == "cannot read rules file " + dir.path());

    const Settings named = settings_with_config(&dir.path());
    auto required = RuleSet::load(named);
    REQUIRE_FALSE(required.ok());
    CHECK(required.error().message.ends_with("(named by XLANE_CONFIG)"));
}

TEST_CASE("XLANE_CONFIG's file is parsed with its own path in the reasons") {
    TempPath file;
    file.write("# lab\nkernel tcp client [fd00:198:18::/64]:7000-7001\n");
    const Settings named = settings_with_config(&file.path());
    auto loaded = RuleSet::load(named);
    REQUIRE(loaded.ok());
    CHECK(loaded->file_rule_count() == 1);
    CHECK(as_client(loaded.value(), L4Proto::tcp, "[fd00:198:18::2]:7001").rule ==
          file.path() + ":2: kernel tcp client [fd00:198:18::/64]:7000-7001");
    CHECK(as_client(loaded.value(), L4Proto::tcp, "[fd00:198:18::2]:7002").action ==
          RuleAction::offload);
}

TEST_CASE("a file that is too large is refused rather than read whole") {
    TempPath file;
    file.write(std::string((1 << 20) + 1, '#'));
    auto loaded = RuleSet::load_file(file.path(), true);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message.find("larger than 1 MiB") != std::string::npos);
}
