#include "commands.h"

namespace xlane::cli {

void add_attach_commands(CLI::App& /*app*/) {}

}  // namespace xlane::cli
