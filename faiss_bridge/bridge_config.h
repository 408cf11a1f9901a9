// bridge_config.h — what the environment asks of the FAISS bridge.
//
// Read once per process (std::call_once), never written afterwards, so every
// thread sees the same answer without locks. A bad value gives one warning
// line on stderr and the default.
#ifndef FLASHKM_BRIDGE_CONFIG_H
#define FLASHKM_BRIDGE_CONFIG_H

#include "flashkm.h"

namespace flashkm_bridge {

// FLASHKM_ENGINE: who trains the exact-flat-index calls.
enum class engine_choice {
    auto_select, // GPU when usable, else FAISS's own code
    gpu,         // flashkm's GPU engine (a missing GPU warns and falls back)
    cpu,         // flashkm's CPU engine
    faiss        // always FAISS's own code
};

struct bridge_config {
    bool disabled;          // FLASHKM_DISABLE=1
    engine_choice engine;   // FLASHKM_ENGINE=auto|gpu|cpu|faiss
    flashkm_precision precision; // FLASHKM_PRECISION=fp32|tf32|fp16|bf16
    bool verbose;           // FLASHKM_VERBOSE=1: one stderr line per call
    int device;             // FLASHKM_DEVICE=N
};

// The process's configuration, parsed on first use.
const bridge_config &config();

} // namespace flashkm_bridge

#endif
