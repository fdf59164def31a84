// SPDX-License-Identifier: MIT
// Fuzz target: the candump line decoder; every message is a valid CAN frame that reads back the same.
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sockbridge::fuzz::fuzzCanStream("candump", {data, size});
}
