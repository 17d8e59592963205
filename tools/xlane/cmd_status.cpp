#include "commands.h"

namespace xlane::cli {

void add_status_commands(CLI::App& /*app*/) {}

}  // namespace xlane::cli
