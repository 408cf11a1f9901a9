// bridge_train.cpp — engine policy, the flashkm call, status → verdict.
#include "bridge_train.h"

#include <chrono>
#include <cstdio>
#include <new>

#include "bridge_config.h"

namespace flashkm_bridge {
namespace {

const char *engine_name(flashkm_engine e) {
    return e == FLASHKM_ENGINE_GPU ? "gpu" : "cpu";
}

// The engine for this call, or false when FAISS's code must run.
bool choose_engine(const train_request &rq, flashkm_engine *engine) {
    switch (config().engine) {
    case engine_choice::gpu:
        *engine = FLASHKM_ENGINE_GPU;
        return true;
    case engine_choice::cpu:
        *engine = FLASHKM_ENGINE_CPU;
        return true;
    case engine_choice::faiss:
        log_passthrough(rq.n, rq.d, rq.k, "FLASHKM_ENGINE=faiss");
        return false;
    case engine_choice::auto_select:
        break;
    }
    // Without a GPU, FAISS's own multi-threaded CPU code is the reference
    // users already have; flashkm's CPU engine runs only when asked for.
    if (!flashkm_gpu_available()) {
        log_passthrough(rq.n, rq.d, rq.k,
                        "no GPU (FLASHKM_ENGINE=cpu selects flashkm's CPU "
                        "engine)");
        return false;
    }
    *engine = FLASHKM_ENGINE_GPU;
    return true;
}

flashkm_params params_for(const train_request &rq, flashkm_engine engine) {
    flashkm_params p;
    flashkm_params_init(&p);
    p.niter = rq.niter;
    p.nredo = rq.nredo;
    p.verbose = rq.verbose;
    p.spherical = rq.spherical;
    p.int_centroids = rq.int_centroids;
    p.frozen_centroids = rq.frozen_centroids;
    p.min_points_per_centroid = rq.min_points_per_centroid;
    p.max_points_per_centroid = rq.max_points_per_centroid;
    p.seed = rq.seed;
    p.metric = rq.metric;
    p.weights = rq.weights;
    p.init_centroids = rq.init_centroids;
    p.n_init_centroids = rq.n_init_centroids;
    p.engine = engine;
    p.precision = config().precision;
    p.device = config().device;
    return p;
}

// flashkm's status, in the words of the bridge: the single mapping.
verdict verdict_for(flashkm_status st, const train_request &rq) {
    switch (st) {
    case FLASHKM_OK:
        return verdict::trained;
    case FLASHKM_ERR_INVALID_ARGUMENT:
    case FLASHKM_ERR_UNSUPPORTED:
        // FAISS judges the input itself: its own exception and text reach
        // the user, or its result when it accepts what flashkm does not.
        log_passthrough(rq.n, rq.d, rq.k, flashkm_last_error());
        return verdict::use_faiss;
    default: // OUT_OF_MEMORY, NO_DEVICE, DEVICE, INTERNAL: run-time failures
        std::fprintf(stderr, "flashkm: %s: %s; training with FAISS instead\n",
                     flashkm_status_string(st), flashkm_last_error());
        return verdict::use_faiss;
    }
}

} // namespace

void log_passthrough(size_t n, size_t d, size_t k, const char *why) {
    if (config().verbose)
        std::fprintf(stderr, "flashkm: FAISS trains n=%zu d=%zu k=%zu: %s\n",
                     n, d, k, why);
}

verdict run_flashkm(const train_request &rq, train_result *result) {
    flashkm_engine engine;
    if (!choose_engine(rq, &engine))
        return verdict::use_faiss;
    flashkm_params p = params_for(rq, engine);

    // FAISS keeps the statistics of every redo up to the best one: at most
    // niter * nredo entries, or the single entry of the n == k shortcut.
    size_t capacity = (size_t)rq.niter * (size_t)rq.nredo;
    if (capacity == 0)
        capacity = 1;
    try {
        result->centroids.assign(rq.k * rq.d, 0.0f);
        result->stats.assign(capacity, flashkm_iteration_stats{});
    } catch (const std::bad_alloc &) {
        std::fprintf(stderr, "flashkm: no host memory for %zu centroids; "
                             "training with FAISS instead\n", rq.k);
        return verdict::use_faiss;
    }
    flashkm_output out = {};
    out.centroids = result->centroids.data();
    out.stats = result->stats.data();
    out.stats_capacity = capacity;

    auto t0 = std::chrono::steady_clock::now();
    flashkm_status st = flashkm_train(&p, rq.n, rq.d, rq.k, rq.x, &out);
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    if (st == FLASHKM_OK && out.n_stats > capacity) {
        std::fprintf(stderr, "flashkm: %zu statistics for room of %zu "
                             "(a flashkm bug); training with FAISS instead\n",
                     out.n_stats, capacity);
        return verdict::use_faiss;
    }
    verdict v = verdict_for(st, rq);
    if (v != verdict::trained)
        return v;
    result->stats.resize(out.n_stats);
    if (config().verbose)
        std::fprintf(stderr,
                     "flashkm: engine=%s n=%zu d=%zu k=%zu niter=%d %.3f s\n",
                     engine_name(out.engine_used), rq.n, rq.d, rq.k,
                     rq.niter, dt.count());
    return v;
}

} // namespace flashkm_bridge
