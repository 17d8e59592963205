#include "commands.h"

namespace xlane::cli {

void add_doctor_command(CLI::App& /*app*/) {}

}  // namespace xlane::cli
