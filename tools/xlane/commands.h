// The `xlane` command's subcommands, one file per group; each adds its
// subcommands to the CLI11 app and runs them. Errors print one line on stderr
// and the command exits non-zero.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/result.h"

namespace xlane::cli {

void add_attach_commands(CLI::App& app);    // attach, detach        (cmd_attach.cpp)
void add_status_commands(CLI::App& app);    // status, flows         (cmd_status.cpp)
void add_doctor_command(CLI::App& app);     // doctor                (cmd_doctor.cpp)
void add_loopback_commands(CLI::App& app);  // loopback enable|disable|status (cmd_loopback.cpp)
void add_sockets_commands(CLI::App& app);   // sockets, stats        (cmd_sockets.cpp)
void add_run_command(CLI::App& app);        // run                   (cmd_run.cpp)

// Prints "xlane: <error>" on stderr and ends the command with exit code 1
// (through CLI::RuntimeError, which main() turns into the exit code).
[[noreturn]] void fail(const Error& error);

}  // namespace xlane::cli
