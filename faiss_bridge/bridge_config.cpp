// bridge_config.cpp — parse FLASHKM_* environment variables once.
#include "bridge_config.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace flashkm_bridge {
namespace {

bridge_config parsed;
std::once_flag parsed_once;

void warn_bad(const char *name, const char *value, const char *expected) {
    std::fprintf(stderr,
                 "flashkm: ignoring %s=%s (expected %s); using the default\n",
                 name, value, expected);
}

bool parse_flag(const char *name, bool fallback) {
    const char *v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        return fallback;
    if (std::strcmp(v, "1") == 0)
        return true;
    if (std::strcmp(v, "0") == 0)
        return false;
    warn_bad(name, v, "0 or 1");
    return fallback;
}

engine_choice parse_engine() {
    const char *v = std::getenv("FLASHKM_ENGINE");
    if (v == nullptr || *v == '\0' || std::strcmp(v, "auto") == 0)
        return engine_choice::auto_select;
    if (std::strcmp(v, "gpu") == 0)
        return engine_choice::gpu;
    if (std::strcmp(v, "cpu") == 0)
        return engine_choice::cpu;
    if (std::strcmp(v, "faiss") == 0)
        return engine_choice::faiss;
    warn_bad("FLASHKM_ENGINE", v, "auto, gpu, cpu or faiss");
    return engine_choice::auto_select;
}

flashkm_precision parse_precision() {
    static const struct {
        const char *name;
        flashkm_precision value;
    } names[] = {{"fp32", FLASHKM_PRECISION_FP32},
                 {"tf32", FLASHKM_PRECISION_TF32},
                 {"fp16", FLASHKM_PRECISION_FP16},
                 {"bf16", FLASHKM_PRECISION_BF16}};
    const char *v = std::getenv("FLASHKM_PRECISION");
    if (v == nullptr || *v == '\0')
        return FLASHKM_PRECISION_FP32;
    for (const auto &n : names)
        if (std::strcmp(v, n.name) == 0)
            return n.value;
    warn_bad("FLASHKM_PRECISION", v, "fp32, tf32, fp16 or bf16");
    return FLASHKM_PRECISION_FP32;
}

int parse_device() {
    const char *v = std::getenv("FLASHKM_DEVICE");
    if (v == nullptr || *v == '\0')
        return 0;
    char *end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > INT_MAX) {
        warn_bad("FLASHKM_DEVICE", v, "a device ordinal >= 0");
        return 0;
    }
    return (int)n;
}

void parse() {
    parsed.disabled = parse_flag("FLASHKM_DISABLE", false);
    parsed.engine = parse_engine();
    parsed.precision = parse_precision();
    parsed.verbose = parse_flag("FLASHKM_VERBOSE", false);
    parsed.device = parse_device();
}

} // namespace

const bridge_config &config() {
    std::call_once(parsed_once, parse);
    return parsed;
}

} // namespace flashkm_bridge
