// SPDX-License-Identifier: MIT
// Fuzz target: cannelloni's TCP stream (handshake, then frames); valid frames, lossless round trip.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sockbridge::fuzz::fuzzCanStream("cannelloni-tcp", {data, size});
}
