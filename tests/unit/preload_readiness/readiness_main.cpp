// Test main of the readiness tests: a private network namespace (from a user
// namespace when not root) with lo up, so loopback datagrams touch nothing
// outside the test; exit 77 (skipped) when no namespace can be made.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "../../support/private_network.h"

int main(int argc, char* argv[]) {
    // Before any thread exists: unshare(CLONE_NEWUSER) needs a single thread.
    if (!enter_private_network()) {
        std::fprintf(stderr, "SKIP: cannot make a private network namespace\n");
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
