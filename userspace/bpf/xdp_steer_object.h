// The loaded (not yet attached) XDP steering program and its maps.
#pragma once

#include "bpf/skeleton.h"
#include "xdp_steer.skel.h"

namespace xlane {

using XdpSteerSkeleton = Skeleton<xdp_steer, xdp_steer__open, xdp_steer__load, xdp_steer__destroy>;

}  // namespace xlane
