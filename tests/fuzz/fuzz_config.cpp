// SPDX-License-Identifier: MIT
// Fuzz target: the YAML config loader; a config is accepted or refused with positioned errors, nothing else.
#include <nss.h>

#include <string>

#include "config/config.h"
#include "config/yaml_source.h"
#include "fuzz_support.h"

using namespace sockbridge;

// Host, user and group names in a config are looked up: only in the local files, so the fuzzer
// neither waits for nor sends DNS queries.
extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    __nss_configure_lookup("hosts", "files");
    __nss_configure_lookup("passwd", "files");
    __nss_configure_lookup("group", "files");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string text(reinterpret_cast<const char *>(data), size);
    try {
        Config config = parseConfig(text, "fuzz.yaml");
        FUZZ_CHECK(config.file == "fuzz.yaml");
        for (const auto &route : config.routes) FUZZ_CHECK(!route.canonical.empty());
    } catch (const ConfigException &e) {
        FUZZ_CHECK(!e.errors().empty());
        for (const auto &error : e.errors()) {
            FUZZ_CHECK(error.file == "fuzz.yaml");
            FUZZ_CHECK(error.line >= 1 && error.column >= 1);
            FUZZ_CHECK(!error.message.empty());
        }
    }
    return 0;
}
