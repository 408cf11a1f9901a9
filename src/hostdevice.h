/* hostdevice.h — lets small pure functions compile for both the host (C11)
 * and the GPU (CUDA), so the CPU and GPU engines share one definition of
 * FAISS's random numbers and empty-cluster split instead of two copies. */
#ifndef FKM_HOSTDEVICE_H
#define FKM_HOSTDEVICE_H
#ifdef __CUDACC__
#define FKM_HD __host__ __device__ static inline
#else
#define FKM_HD static inline
#endif
#endif
