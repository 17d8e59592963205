// `xlane`: attach the XDP steering program, enable the loopback path, and see
// what xlane is doing. A thin CLI over libxlane_core.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "commands.h"

namespace xlane::cli {

void fail(const Error& error) {
    std::fprintf(stderr, "xlane: %s\n", error.describe().c_str());
    if (const char* debug = std::getenv("XLANE_DEBUG"); debug != nullptr && std::string_view(debug) == "1")
        std::fprintf(stderr, "xlane: (at %s)\n", error.location().c_str());
    throw CLI::RuntimeError(1);
}

}  // namespace xlane::cli

int main(int argc, char** argv) {
    CLI::App app{"xlane: accelerate unmodified socket programs with XDP, AF_XDP and sockmap"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every command");
    xlane::cli::add_attach_commands(app);
    xlane::cli::add_status_commands(app);
    xlane::cli::add_doctor_command(app);
    xlane::cli::add_loopback_commands(app);
    xlane::cli::add_sockets_commands(app);
    xlane::cli::add_run_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();  // a command already said what went wrong (fail())
    } catch (const CLI::ParseError& e) {
        // A usage error: one line, exit 2 as getopt-style tools do.
        std::fprintf(stderr, "xlane: %s (see xlane --help)\n", e.what());
        return 2;
    }
    return 0;
}
