// passthrough_guard.h — marks the Clustering calls already handed to FAISS.
//
// When the C API entry points hand a call to FAISS's own C function, that
// function calls Clustering::train, which this plugin interposes too. The
// guard makes that nested call go straight to FAISS instead of deciding (and
// maybe warning) a second time. Per thread, and only for the duration of
// the hand-over: other Clustering objects (an IVF index trained inside the
// call, say) are decided on their own.
#ifndef FLASHKM_BRIDGE_PASSTHROUGH_GUARD_H
#define FLASHKM_BRIDGE_PASSTHROUGH_GUARD_H

namespace flashkm_bridge {

class passthrough_guard {
  public:
    // `clustering`: the object handed over; nullptr: any Clustering trained
    // on this thread meanwhile (faiss_kmeans_clustering builds its own).
    explicit passthrough_guard(const void *clustering);
    ~passthrough_guard();
    passthrough_guard(const passthrough_guard &) = delete;
    passthrough_guard &operator=(const passthrough_guard &) = delete;

    // True when a call on `clustering` must go straight to FAISS.
    static bool covers(const void *clustering);

  private:
    const void *saved_target_;
    bool saved_active_;
};

} // namespace flashkm_bridge

#endif
