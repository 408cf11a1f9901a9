// clustering_call.h — a faiss::Clustering::train call, read and written.
//
// request_for reads the call (the Clustering's parameters and input
// centroids, the assigning index) and says whether flashkm may take it;
// store_result writes flashkm's answer back the way FAISS leaves the
// Clustering. Filling the index is the caller's (C++: virtual calls; C API:
// libfaiss_c's own functions, so its error store reports failures).
#ifndef FLASHKM_BRIDGE_CLUSTERING_CALL_H
#define FLASHKM_BRIDGE_CLUSTERING_CALL_H

#include "bridge_train.h"
#include "faiss_headers.h"

namespace flashkm_bridge {

// False (with *why) when no call may go to flashkm: FLASHKM_DISABLE=1,
// FLASHKM_ENGINE=faiss, or a running FAISS other than the plugin's.
bool plugin_active(const void *const *anchors, int n_anchors,
                   const char **why);

// True when flashkm may train this call (*request filled); false when FAISS
// must (*why says why): the plugin is disabled, the running FAISS is not the
// one the plugin was built for, the index is not an exact flat index with
// L2 or inner-product metric, or the input is one FAISS rejects or treats
// in its own way (FAISS then raises its own exception). `anchors`: where
// the running FAISS lives (see faiss_origin.h).
bool request_for(const faiss::Clustering &clus, faiss::Index::idx_t n,
                 const float *x, const faiss::Index &index,
                 const float *weights, const void *const *anchors,
                 int n_anchors, train_request *request, const char **why);

// Moves the centroids into clus.centroids and appends the statistics to
// clus.iteration_stats, as FAISS does. False (and clus untouched) when the
// statistics could not be allocated.
bool store_result(faiss::Clustering &clus, train_result &result);

// The whole flashkm side of a Clustering call: request_for, run_flashkm,
// store_result. True when clus holds flashkm's centroids and statistics
// (the caller then fills the index); false when the caller must run FAISS's
// own code, with clus untouched. With FLASHKM_VERBOSE=1 says which on stderr.
bool train_with_flashkm(faiss::Clustering &clus, faiss::Index::idx_t n,
                        const float *x, const faiss::Index &index,
                        const float *weights, const void *const *anchors,
                        int n_anchors);

// Whether FAISS trains the index before its final add: only without redos
// (with redos FAISS re-adds the best centroids untrained).
inline bool index_train_before_add(const faiss::Clustering &clus) {
    return clus.update_index && clus.nredo == 1;
}

} // namespace flashkm_bridge

#endif
