// bsr_sddmm on CUDA (contract: gpu/core/bsr.h). Tiled kernels for square blocks of 16, 32 and
// 64: a thread block owns one output block G_i @ B_j^T and walks k in chunks staged through
// shared memory by the 3-stage cp.async pipeline of bsr_spmm. float16 and bfloat16 multiply
// on tensor cores (both operands are k-contiguous, which is mma's row x col form, so ldmatrix
// needs no transpose); float32 takes per-thread FMA tiles. Blocks of 16 split each chunk's
// k steps over the 4 warps and add the partial tiles in shared memory.
#include "bsr.cuh"
#include "mma.cuh"

namespace mlx_sparse::gpu {

template <typename T, int BS>
struct SddmmTile {
  static constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  static constexpr int kChunk = sizeof(T) == 4 ? 16 : (BS == 16 ? 64 : 32);
  static constexpr int kStages = 3;
  static constexpr int kLd = kChunk + kVec; // rows padded by 16 bytes: no bank conflicts
  static constexpr int kStage = 2 * BS * kLd;
  static constexpr int kBytes = kStages * kStage * static_cast<int>(sizeof(T));
  // mma warps: 2 x 2 of (BS / 2)^2 for bs >= 32; for bs 16 the 4 warps split the k steps
  static constexpr int kWarpsK = BS == 16 ? 4 : 1;
  static constexpr int kWm = BS == 16 ? 16 : BS / 2;
  static constexpr int kMt = kWm / 16, kNt = kWm / 8;
  // FMA threads: 16 x 8 of (BS / 16) x (BS / 8) values
  static constexpr int kTm = BS / 16, kTn = BS / 8;
};

namespace {

template <typename T, typename I, int BS>
__device__ __forceinline__ void bsr_sddmm_tiled(const I* indptr, const I* cols, const T* G,
                                                const T* B, T* out, BsrArgs a) {
  using Tile = SddmmTile<T, BS>;
  constexpr int kVec = Tile::kVec, kChunk = Tile::kChunk;
  __shared__ alignas(16) unsigned char raw[Tile::kBytes];
  T* const smem = reinterpret_cast<T*>(raw);
  const int tid = threadIdx.x;
  const int64_t p = blockIdx.x, b = blockIdx.z;
  T* o = out + (b * a.nnzb + p) * BS * BS;
  const int64_t i = bsr_block_row(indptr, cols, a, p);
  if (i < 0) { // in no block row, or its column is out of range: zeros
    for (int e = tid; e < BS * BS; e += kBsrThreads) {
      o[e] = from_float<T>(0.0f);
    }
    return;
  }
  const T* g = G + b * a.a_stride + i * BS * a.k;
  const T* x = B + b * a.b_stride + static_cast<int64_t>(cols[p]) * BS * a.k;
  const bool aligned = aligned16(g) && aligned16(x) && a.k % kVec == 0;

  auto load = [&](int64_t step, int stage) {
    T* Gs = smem + stage * Tile::kStage;
    T* Bs = Gs + BS * Tile::kLd;
    const int64_t k0 = step * kChunk;
    for (int q = tid; q < 2 * BS * (kChunk / kVec); q += kBsrThreads) {
      const int r = q / (kChunk / kVec), c = (q % (kChunk / kVec)) * kVec;
      const int64_t left = a.k - (k0 + c);
      const int n = left <= 0 ? 0 : (left < kVec ? static_cast<int>(left) : kVec);
      // rows [0, BS) are G's, [BS, 2 BS) B's: the stage holds them back to back
      const T* src = r < BS ? g + r * a.k : x + (r - BS) * a.k;
      stage_chunk(Gs + r * Tile::kLd + c, src + k0 + c, n, aligned);
    }
  };
  const int64_t steps = (a.k + kChunk - 1) / kChunk;

  if constexpr (sizeof(T) == 2) {
    const int warp = tid / kWarp, lane = tid % kWarp;
    const int wk = warp % Tile::kWarpsK;
    const int wm = Tile::kWarpsK == 1 ? warp / 2 : 0, wn = Tile::kWarpsK == 1 ? warp % 2 : 0;
    float acc[Tile::kMt][Tile::kNt][4] = {};
    staged_loop<Tile::kStages>(steps, load, [&](int64_t, int stage) {
      const T* Gs = smem + stage * Tile::kStage;
      const T* Bs = Gs + BS * Tile::kLd;
#pragma unroll
      for (int ks = wk * 16; ks < kChunk; ks += 16 * Tile::kWarpsK) {
        uint32_t af[Tile::kMt][4];
#pragma unroll
        for (int mt = 0; mt < Tile::kMt; ++mt) {
          const int r = wm * Tile::kWm + mt * 16 + (lane & 15);
          ldmatrix_x4(af[mt], Gs + r * Tile::kLd + ks + (lane >> 4) * 8);
        }
#pragma unroll
        for (int np = 0; np < Tile::kNt / 2; ++np) {
          uint32_t bf[4]; // B rows are mma's columns: n = lane & 7 (+8), k halves by lane >> 3
          const int n = wn * Tile::kWm + np * 16 + (lane & 7) + (lane >> 4) * 8;
          ldmatrix_x4(bf, Bs + n * Tile::kLd + ks + ((lane >> 3) & 1) * 8);
#pragma unroll
          for (int mt = 0; mt < Tile::kMt; ++mt) {
            mma_16816<T>(acc[mt][2 * np], af[mt], bf[0], bf[1]);
            mma_16816<T>(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
          }
        }
      }
    });
    const int gr = lane >> 2, t2 = (lane & 3) * 2;
    if constexpr (Tile::kWarpsK > 1) {
      // the warps' partial 16 x 16 tiles, summed through shared memory (the stages are free)
      cp_async_wait<0>();
      __syncthreads();
      float* part = reinterpret_cast<float*>(raw);
#pragma unroll
      for (int nt = 0; nt < Tile::kNt; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          part[warp * BS * BS + (gr + 8 * (e >> 1)) * BS + nt * 8 + t2 + (e & 1)] =
              acc[0][nt][e];
        }
      }
      __syncthreads();
      for (int e = tid; e < BS * BS; e += kBsrThreads) {
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < Tile::kWarpsK; ++w) {
          s += part[w * BS * BS + e];
        }
        o[e] = from_float<T>(s);
      }
    } else {
#pragma unroll
      for (int mt = 0; mt < Tile::kMt; ++mt) {
#pragma unroll
        for (int nt = 0; nt < Tile::kNt; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int r = wm * Tile::kWm + mt * 16 + gr + 8 * (e >> 1);
            o[r * BS + wn * Tile::kWm + nt * 8 + t2 + (e & 1)] = from_float<T>(acc[mt][nt][e]);
          }
        }
      }
    }
  } else {
    const int ty = tid / 8, tx = tid % 8;
    float acc[Tile::kTm][Tile::kTn] = {};
    staged_loop<Tile::kStages>(steps, load, [&](int64_t, int stage) {
      const T* Gs = smem + stage * Tile::kStage;
      const T* Bs = Gs + BS * Tile::kLd;
#pragma unroll 4
      for (int kk = 0; kk < kChunk; ++kk) {
        float w[Tile::kTn];
#pragma unroll
        for (int c = 0; c < Tile::kTn; ++c) {
          w[c] = Bs[(tx * Tile::kTn + c) * Tile::kLd + kk];
        }
#pragma unroll
        for (int r = 0; r < Tile::kTm; ++r) {
          const float v = Gs[(ty * Tile::kTm + r) * Tile::kLd + kk];
#pragma unroll
          for (int c = 0; c < Tile::kTn; ++c) {
            acc[r][c] = fmaf(v, w[c], acc[r][c]);
          }
        }
      }
    });
#pragma unroll
    for (int r = 0; r < Tile::kTm; ++r) {
#pragma unroll
      for (int c = 0; c < Tile::kTn; ++c) {
        o[(ty * Tile::kTm + r) * BS + tx * Tile::kTn + c] = acc[r][c];
      }
    }
  }
}

// Any block shape: one thread per output value, grid-stride over the blocks of out[b].
template <typename T, typename I>
__device__ __forceinline__ void bsr_sddmm_each(const I* indptr, const I* cols, const T* G,
                                               const T* B, T* out, BsrArgs a) {
  const int64_t size = a.R * a.C, count = a.nnzb * size, b = blockIdx.y;
  for (int64_t e = global_thread(); e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t rc = e % size;
    out[b * count + e] = from_float<T>(
        bsr_sddmm_element<T, I>(indptr, cols, G, B, a, b, e / size, rc / a.C, rc % a.C));
  }
}

} // namespace

} // namespace mlx_sparse::gpu

using namespace mlx_sparse::gpu;

#define MS_BSR_SDDMM(T, tn, I, in_) MS_BSR_ENTRIES(bsr_sddmm, T, tn, I, in_)
MS_FOR_TYPES(MS_BSR_SDDMM)
