// Time loops of one LSTM layer, forward and backward, for contiguous CPU tensors (weights
// also column-major).
//
// A backend of lstmkit/kernels/interface.py, twin of lstmkit/kernels/python_kernels.py: the
// same buffers and equations (see lstmkit/reference.py for the recurrence). The structs
// LoopInputs and LoopSaved mirror the interface's tuples field for field (LoopSaved flattened
// as by LoopSaved.flat); the operators registered at the end take those fields in that
// order. Each step is one GEMM (two with a projection) into a preallocated buffer plus fused
// pointwise loops over rows of the batch, vectorised with ATen's Vectorized (AVX2 + Sleef
// when built for it). The layer norm of the input term runs inside the loops too, and the
// gradients of the layer-norm and peephole parameters accumulate there; the weight-matrix
// gradients are formed after the loop by the caller, as big GEMMs over the per-step gradients
// stored here.

// Only the headers used are included (not torch/extension.h): it keeps the one-time
// build of this file short. The functions are registered as torch operators
// torch.ops.lstmkit.*, so no pybind11 is needed either.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/native/CPUBlas.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

constexpr double kLayerNormEps = 1e-5;
// Rows handed to one thread: enough pointwise work to pay for the fork.
constexpr int64_t kElementsPerTask = 16384;

template <typename T>
using Vec = at::vec::Vectorized<T>;

// sigma(x) = 1 / (1 + exp(-x)) with ATen's faster exp (error within 20 ULP instead of 1:
// about 1e-6 relative in float32, exact-rounding exp for double); the gate math is
// exp-bound (at B=32, H=256 the forward loop takes about a fifth less time).
template <typename T>
inline Vec<T> sigmoid(const Vec<T>& x) {
  return (Vec<T>(T(1)) + x.neg().exp_u20()).reciprocal();
}

// tanh(x) = 2 sigma(2x) - 1: one exp instead of Sleef's tanh; the absolute error stays
// near float32's epsilon (the relative error of tiny |x| grows, harmless next to the
// O(1) states).
template <typename T>
inline Vec<T> tanh(const Vec<T>& x) {
  return Vec<T>(T(2)) * sigmoid(x + x) - Vec<T>(T(1));
}

template <typename T>
inline T horizontal_sum(const Vec<T>& v) {
  T lanes[Vec<T>::size()];
  v.store(lanes);
  T total = 0;
  for (int64_t k = 0; k < Vec<T>::size(); ++k) total += lanes[k];
  return total;
}

// Calls body(j, count) for vectors of `count` lanes covering [0, n).
template <typename T, typename F>
inline void for_vectors(int64_t n, const F& body) {
  constexpr int64_t width = Vec<T>::size();
  for (int64_t j = 0; j < n; j += width) body(j, std::min(width, n - j));
}

template <typename T>
inline Vec<T> load(const T* p, int64_t count) {
  return Vec<T>::loadu(p, count);
}

// Mean and inverse standard deviation of x[0..n) (biased variance, as F.layer_norm).
template <typename T>
std::pair<T, T> row_stats(const T* x, int64_t n) {
  Vec<T> sum(T(0));
  for_vectors<T>(n, [&](int64_t j, int64_t k) { sum += load(x + j, k); });
  const T mean = horizontal_sum(sum) / T(n);
  Vec<T> squares(T(0));
  for_vectors<T>(n, [&](int64_t j, int64_t k) {
    Vec<T> d = Vec<T>::set(Vec<T>(T(0)), load(x + j, k) - Vec<T>(mean), k);
    squares += d * d;
  });
  const T rstd = T(1) / std::sqrt(horizontal_sum(squares) / T(n) + T(kLayerNormEps));
  return {mean, rstd};
}

// Layer-norm backward over a row, with dxhat = dy * gain:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
// and the row's terms of the parameter gradients: d_gain += dy * xhat, d_bias += dy (each
// skipped when null). dx may alias dy.
template <typename T>
void normalise_backward_row(const T* dy, const T* gain, const T* xhat, T rstd, int64_t n, T* dx,
                            T* d_gain, T* d_bias) {
  Vec<T> sum_d(T(0)), sum_dx(T(0));
  for_vectors<T>(n, [&](int64_t j, int64_t k) {
    const Vec<T> g = load(dy + j, k), x = load(xhat + j, k);
    const Vec<T> d = g * load(gain + j, k);
    sum_d += d;
    sum_dx += d * x;
    if (d_gain) at::vec::fmadd(g, x, load(d_gain + j, k)).store(d_gain + j, k);
    if (d_bias) (load(d_bias + j, k) + g).store(d_bias + j, k);
  });
  const Vec<T> mean_d(horizontal_sum(sum_d) / T(n)), mean_dx(horizontal_sum(sum_dx) / T(n));
  for_vectors<T>(n, [&](int64_t j, int64_t k) {
    Vec<T> d = load(dy + j, k) * load(gain + j, k);
    (Vec<T>(rstd) * (d - mean_d - load(xhat + j, k) * mean_dx)).store(dx + j, k);
  });
}

// Zoneout weight of the previous state: per-step samples (T, B, N) or one probability.
template <typename T>
struct Zoneout {
  const T* samples = nullptr;
  T probability = 0;
  bool on = false;

  Zoneout(const OptTensor& z) {
    if (!z.has_value()) return;
    on = true;
    if (z->dim() == 0) {
      probability = z->item<T>();
    } else {
      samples = z->data_ptr<T>();
    }
  }
  // Row `row` (= t * B + b) of width n, lanes [j, j + count).
  Vec<T> at(int64_t row, int64_t n, int64_t j, int64_t count) const {
    return samples ? load(samples + row * n + j, count) : Vec<T>(probability);
  }
};

template <typename T>
const T* data_or_null(const OptTensor& x) {
  return x.has_value() ? x->data_ptr<T>() : nullptr;
}

template <typename T>
T* data_or_null(Tensor& x) {
  return x.defined() ? x.data_ptr<T>() : nullptr;
}

int64_t grain_rows(int64_t row_elements) {
  return std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(1, row_elements));
}

// Slot of the state after step t (0 = the initial state) in a (slots, B, N) state buffer:
// every state when the backward pass needs them (slots = T + 1), else two alternating slots
// with the final state in the last one.
inline int64_t state_slot(int64_t t, int64_t steps, int64_t slots) {
  return slots == steps + 1 ? t : 1 - (steps - t) % 2;
}

// c (rows, n) = a (rows, k; rows `lda` apart) x b (k, n) (+ c with `accumulate`), all
// row-major, b and c contiguous. Called by each thread for its own rows inside a parallel
// region. float runs oneDNN's batch-reduce GEMM micro-kernel (torch's cpublas::brgemm, which
// falls back to its BLAS GEMM where the micro-kernel is unavailable); it outruns an ATen
// matmul call at the small row counts of one step, and has no per-call dispatch. Other types
// take ATen's matmul.
template <typename T>
void gemm_rows(int64_t rows, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, T* c,
               bool accumulate = false) {
#if defined(CPUBLAS_BRGEMM_F32F32F32)
  if constexpr (std::is_same_v<T, float>) {
    at::native::cpublas::brgemm(rows, n, k, lda, n, n, accumulate, a, b, c);
    return;
  }
#endif
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  Tensor out = at::from_blob(c, {rows, n}, options);
  const Tensor left = at::from_blob(const_cast<T*>(a), {rows, k}, {lda, 1}, options);
  const Tensor right = at::from_blob(const_cast<T*>(b), {k, n}, options);
  if (accumulate) {
    out.addmm_(left, right);
  } else {
    at::mm_out(out, left, right);
  }
}

// ---------------------------------------------------------------------------------------------
// Forward

// What the forward loop reads (lstmkit.kernels.interface.LoopInputs).
// With w_ih, gates_x is the layer input x (T, B, I) and the loop computes each step's input
// term x_t W_ih^T + input_bias itself (inference).
struct LoopInputs {
  Tensor gates_x, w_hh, h0, c0;
  OptTensor ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias, ln_c_gain, ln_c_bias, peephole, w_hr;
  OptTensor rd_mask, zoneout_h, zoneout_c, mask, w_ih, input_bias;
};

struct ForwardBuffers {
  Tensor out, proj_in, hs, cs, gates, cell, tanh_c, xhat_h, rstd_h, xhat_c, rstd_c, mean_x, rstd_x;
};

template <typename T>
void forward_loop_impl(const LoopInputs& in, ForwardBuffers& buf) {
  const Tensor &gates_x = in.gates_x, &w_hh = in.w_hh;
  const OptTensor &w_hr = in.w_hr, &rd_mask = in.rd_mask;
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), four_h = w_hh.size(0);
  const int64_t hidden = four_h / 4, width = buf.hs.size(2), slots = buf.hs.size(0);
  const int64_t inputs = gates_x.size(2);  // I with w_ih, else 4H
  const bool project = w_hr.has_value(), project_input = in.w_ih.has_value();
  // The GEMMs' right operands W_hh^T (P, 4H), W_hr^T (H, P), W_ih^T (I, 4H), laid out
  // row-major once (no copy for the column-major weights of inference calls).
  const Tensor w_hh_t = w_hh.t().contiguous();
  const Tensor w_hr_t = project ? w_hr->t().contiguous() : Tensor();
  const Tensor w_ih_t = project_input ? in.w_ih->t().contiguous() : Tensor();
  const T *w_rec = w_hh_t.data_ptr<T>(), *w_proj = project ? w_hr_t.data_ptr<T>() : nullptr;
  const T* w_in = project_input ? w_ih_t.data_ptr<T>() : nullptr;
  const T* input_bias = data_or_null<T>(in.input_bias);

  const T* gx = gates_x.data_ptr<T>();
  const T *gain_x = data_or_null<T>(in.ln_x_gain), *bias_x = data_or_null<T>(in.ln_x_bias);
  const T *gain_h = data_or_null<T>(in.ln_h_gain), *bias_h = data_or_null<T>(in.ln_h_bias);
  const T *gain_c = data_or_null<T>(in.ln_c_gain), *bias_c = data_or_null<T>(in.ln_c_bias);
  const T* peep = data_or_null<T>(in.peephole);
  const T* pad = data_or_null<T>(in.mask);
  const T* rd = data_or_null<T>(rd_mask);
  const Zoneout<T> zone_h(in.zoneout_h), zone_c(in.zoneout_c);
  T *out = buf.out.data_ptr<T>(), *hs = buf.hs.data_ptr<T>(), *cs = buf.cs.data_ptr<T>();
  T *gates = buf.gates.data_ptr<T>(), *tanh_c = buf.tanh_c.data_ptr<T>();
  T *cell = data_or_null<T>(buf.cell), *proj_in = data_or_null<T>(buf.proj_in);
  T *xhat_h = data_or_null<T>(buf.xhat_h), *rstd_h = data_or_null<T>(buf.rstd_h);
  T *xhat_c = data_or_null<T>(buf.xhat_c), *rstd_c = data_or_null<T>(buf.rstd_c);
  T *mean_x = data_or_null<T>(buf.mean_x), *rstd_x = data_or_null<T>(buf.rstd_x);
  const bool normalise_gates = gain_x || gain_h;

  // Row of state t of sequence b in hs and cs.
  auto state_row = [&](int64_t t, int64_t b) { return state_slot(t, steps, slots) * batch + b; };
  // h_t = m (z h_{t-1} + (1 - z) h'_t) + (1 - m) h_{t-1}; out_t = m h_t  (row r = t * B + b).
  auto finish_hidden = [&](int64_t t, int64_t b, int64_t j, int64_t k, Vec<T> h_new) {
    const int64_t row = t * batch + b;
    const T* h_prev = hs + state_row(t, b) * width;
    T* h_next = hs + state_row(t + 1, b) * width;
    const Vec<T> prev = load(h_prev + j, k);
    if (zone_h.on) h_new = at::vec::fmadd(zone_h.at(row, width, j, k), prev - h_new, h_new);
    if (pad) {
      const Vec<T> m(pad[row]);
      h_new = at::vec::fmadd(m, h_new - prev, prev);
      h_new.store(h_next + j, k);
      (h_new * m).store(out + row * width + j, k);
    } else {
      h_new.store(h_next + j, k);
      h_new.store(out + row * width + j, k);
    }
  };

  // Rows of the batch never meet: each thread runs the whole time loop for its own block of
  // rows (its GEMMs included), so the steps need no synchronisation between threads.
  at::parallel_for(0, batch, grain_rows(steps * 4 * four_h), [&](int64_t b0, int64_t b1) {
    const int64_t rows = b1 - b0;
    std::vector<T> h_in(rd ? rows * width : 0);               // h_{t-1} * r
    std::vector<T> input_term(project_input ? rows * four_h : 0);  // x_t W_ih^T + b
    for (int64_t t = 0; t < steps; ++t) {
      if (project_input) {
        if (input_bias) {
          for (int64_t r = 0; r < rows; ++r) {
            std::copy(input_bias, input_bias + four_h, input_term.data() + r * four_h);
          }
        }
        gemm_rows<T>(rows, four_h, inputs, gx + (t * batch + b0) * inputs, inputs, w_in,
                     input_term.data(), /*accumulate=*/input_bias != nullptr);
      }
      const T* h_rec = hs + state_row(t, b0) * width;
      if (rd) {
        const T* r = rd + b0 * width;
        for_vectors<T>(rows * width, [&](int64_t j, int64_t k) {
          (load(h_rec + j, k) * load(r + j, k)).store(h_in.data() + j, k);
        });
        h_rec = h_in.data();
      }
      // a_t = N_x(x_t W_ih^T) + N_h(W_hh h_in). The GEMM writes W_hh h_in into xhat_h[t]
      // (recurrent layer norm) or gates[t]; the input term is added in a pointwise loop below,
      // saving a pass over memory. Without a backward pass the per-step buffers hold one
      // step, reused (slot 0).
      const int64_t slot = buf.gates.size(0) == steps ? t : 0;
      T* recurrent = (gain_h ? xhat_h : gates) + (slot * batch + b0) * four_h;
      gemm_rows<T>(rows, four_h, width, h_rec, width, w_rec, recurrent);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b, saved = slot * batch + b;
        T* a = gates + saved * four_h;
        const T* g_x = project_input ? input_term.data() + (b - b0) * four_h : gx + row * four_h;
        if (normalise_gates) {
          T mean_rec = 0, rstd_rec = 1, mean_in = 0, rstd_in = 1;
          T* rec = gain_h ? xhat_h + saved * four_h : a;
          if (gain_h) {
            std::tie(mean_rec, rstd_rec) = row_stats(rec, four_h);
            rstd_h[saved] = rstd_rec;
          }
          if (gain_x) {
            std::tie(mean_in, rstd_in) = row_stats(g_x, four_h);
            mean_x[saved] = mean_in;
            rstd_x[saved] = rstd_in;
          }
          for_vectors<T>(four_h, [&](int64_t j, int64_t k) {
            Vec<T> r = load(rec + j, k), in = load(g_x + j, k);
            if (gain_h) {
              const Vec<T> x = (r - Vec<T>(mean_rec)) * Vec<T>(rstd_rec);
              x.store(rec + j, k);
              r = at::vec::fmadd(x, load(gain_h + j, k), load(bias_h + j, k));
            }
            if (gain_x) {
              const Vec<T> x = (in - Vec<T>(mean_in)) * Vec<T>(rstd_in);
              in = at::vec::fmadd(x, load(gain_x + j, k), load(bias_x + j, k));
            }
            (r + in).store(a + j, k);
          });
        }
        const T* c_prev = cs + state_row(t, b) * hidden;
        T* c_next = cs + state_row(t + 1, b) * hidden;
        T* c_new = cell ? cell + saved * hidden : c_next;  // c'_t, before zoneout and padding
        const T* g_x_rest = normalise_gates ? nullptr : g_x;  // input term not yet in a
        // h'_t = o * tanh(N_c(c'_t)) and c_t = m (z c_{t-1} + (1 - z) c'_t) + (1 - m) c_{t-1}
        // on lanes [j, j + k), from c_{t-1}, c'_t, N_c(c'_t) and sigma(o).
        auto finish_cell = [&](int64_t j, int64_t k, const Vec<T>& c, const Vec<T>& cn,
                               const Vec<T>& normed, const Vec<T>& o) {
          const Vec<T> tc = tanh(normed);
          tc.store(tanh_c + saved * hidden + j, k);
          const Vec<T> h_new = o * tc;
          if (project) {
            h_new.store(proj_in + saved * hidden + j, k);
          } else {
            finish_hidden(t, b, j, k, h_new);
          }
          Vec<T> c_out = cn;
          if (zone_c.on) c_out = at::vec::fmadd(zone_c.at(row, hidden, j, k), c - c_out, c_out);
          if (pad) c_out = at::vec::fmadd(Vec<T>(pad[row]), c_out - c, c);
          c_out.store(c_next + j, k);
        };
        // i, f, o = sigma(. + p * c), g = tanh(.); c'_t = f * c_{t-1} + i * g. Without N_c the
        // step ends in the same pass; N_c needs the row's statistics of c'_t first.
        for_vectors<T>(hidden, [&](int64_t j, int64_t k) {
          const Vec<T> c = load(c_prev + j, k);
          Vec<T> i = load(a + j, k), f = load(a + hidden + j, k);
          Vec<T> g = load(a + 2 * hidden + j, k), o = load(a + 3 * hidden + j, k);
          if (g_x_rest) {
            i = i + load(g_x_rest + j, k);
            f = f + load(g_x_rest + hidden + j, k);
            g = g + load(g_x_rest + 2 * hidden + j, k);
            o = o + load(g_x_rest + 3 * hidden + j, k);
          }
          if (peep) {
            i = at::vec::fmadd(load(peep + j, k), c, i);
            f = at::vec::fmadd(load(peep + hidden + j, k), c, f);
          }
          i = sigmoid(i);
          f = sigmoid(f);
          g = tanh(g);
          const Vec<T> cn = at::vec::fmadd(f, c, i * g);
          if (peep) o = at::vec::fmadd(load(peep + 2 * hidden + j, k), cn, o);
          o = sigmoid(o);
          i.store(a + j, k);
          f.store(a + hidden + j, k);
          g.store(a + 2 * hidden + j, k);
          o.store(a + 3 * hidden + j, k);
          if (cell || gain_c) cn.store(c_new + j, k);
          if (!gain_c) finish_cell(j, k, c, cn, cn, o);
        });
        if (gain_c) {
          T mean_c, rstd_row_c;
          std::tie(mean_c, rstd_row_c) = row_stats(c_new, hidden);
          rstd_c[saved] = rstd_row_c;
          for_vectors<T>(hidden, [&](int64_t j, int64_t k) {
            const Vec<T> cn = load(c_new + j, k);
            const Vec<T> x = (cn - Vec<T>(mean_c)) * Vec<T>(rstd_row_c);
            x.store(xhat_c + saved * hidden + j, k);
            const Vec<T> normed = at::vec::fmadd(x, load(gain_c + j, k), load(bias_c + j, k));
            finish_cell(j, k, load(c_prev + j, k), cn, normed, load(a + 3 * hidden + j, k));
          });
        }
      }
      if (project) {
        // h'_t = W_hr (o * tanh(N_c(c'_t))), written into h_{t+1}'s slot, finished in place.
        gemm_rows<T>(rows, width, hidden, proj_in + (slot * batch + b0) * hidden, hidden, w_proj,
                     hs + state_row(t + 1, b0) * width);
        for (int64_t b = b0; b < b1; ++b) {
          const T* h_proj = hs + state_row(t + 1, b) * width;
          for_vectors<T>(width,
                         [&](int64_t j, int64_t k) { finish_hidden(t, b, j, k, load(h_proj + j, k)); });
        }
      }
    }
  });
}

std::vector<Tensor> forward_loop(const LoopInputs& in, bool keep) {
  const Tensor& gates_x = in.gates_x;
  const int64_t four_h = in.w_hh.size(0);
  const int64_t inputs = in.w_ih.has_value() ? in.w_ih->size(1) : four_h;
  TORCH_CHECK(gates_x.dim() == 3 && gates_x.size(2) == inputs,
              in.w_ih.has_value() ? "x must be (T, B, I) with I of w_ih, got "
                                  : "gates_x must be (T, B, 4H) with 4H of w_hh, got ",
              gates_x.sizes());
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1);
  const int64_t hidden = four_h / 4, width = in.h0.size(-1);
  const auto opts = gates_x.options();
  // The buffers only the backward pass reads hold every step when `keep`, else one (the
  // states two: the previous and the next).
  const int64_t kept = keep ? steps : 1, slots = keep ? steps + 1 : 2;
  ForwardBuffers buf;
  buf.out = at::empty({steps, batch, width}, opts);
  buf.hs = at::empty({slots, batch, width}, opts);
  buf.cs = at::empty({slots, batch, hidden}, opts);
  buf.gates = at::empty({kept, batch, four_h}, opts);
  buf.tanh_c = at::empty({kept, batch, hidden}, opts);
  if (in.peephole.has_value() && (in.zoneout_c.has_value() || in.mask.has_value())) {
    buf.cell = at::empty({kept, batch, hidden}, opts);
  }
  if (in.w_hr.has_value()) buf.proj_in = at::empty({kept, batch, hidden}, opts);
  if (in.ln_x_gain.has_value()) {
    buf.mean_x = at::empty({kept, batch}, opts);
    buf.rstd_x = at::empty({kept, batch}, opts);
  }
  if (in.ln_h_gain.has_value()) {
    buf.xhat_h = at::empty({kept, batch, four_h}, opts);
    buf.rstd_h = at::empty({kept, batch}, opts);
  }
  if (in.ln_c_gain.has_value()) {
    buf.xhat_c = at::empty({kept, batch, hidden}, opts);
    buf.rstd_c = at::empty({kept, batch}, opts);
  }
  buf.hs[state_slot(0, steps, slots)].copy_(in.h0);
  buf.cs[state_slot(0, steps, slots)].copy_(in.c0);
  AT_DISPATCH_FLOATING_TYPES(gates_x.scalar_type(), "lstm_forward_loop",
                             [&] { forward_loop_impl<scalar_t>(in, buf); });
  // ForwardBuffers' out and proj_in, then the fields of its SavedBuffers.
  return {buf.out,    buf.proj_in, buf.hs,     buf.cs,     buf.gates,  buf.cell,  buf.tanh_c,
          buf.xhat_h, buf.rstd_h,  buf.xhat_c, buf.rstd_c, buf.mean_x, buf.rstd_x};
}

// ---------------------------------------------------------------------------------------------
// Backward

// The gradients of the layer-norm and peephole parameters are sums over all (t, b) rows. They
// accumulate while the row is in cache, per thread in (threads, n) buffers small enough for L1,
// and are summed over threads after the loop. at::parallel_for splits the batch statically, so
// the order of the sums is fixed for a given number of threads.
struct BackwardBuffers {
  // d(a_t) is the gates' gradient; without a layer norm on a side it is that side's gradient.
  Tensor d_gates, d_input, d_recurrent, d_proj_out, dh, dc;
  Tensor acc_bias, acc_gain_x, acc_gain_h, acc_gain_c, acc_bias_c, acc_peephole;
  int64_t threads = 1;
};

// What the backward loop reads (lstmkit.kernels.interface.LoopSaved).
struct LoopSaved {
  OptTensor input_term;
  Tensor hs, cs, gates;
  OptTensor cell;
  Tensor tanh_c;
  OptTensor xhat_h, rstd_h, xhat_c, rstd_c, mean_x, rstd_x;
  Tensor w_hh;
  OptTensor ln_x_gain, ln_h_gain, ln_c_gain, peephole, w_hr, rd_mask, zoneout_h, zoneout_c, mask;
};

template <typename T>
void backward_loop_impl(const Tensor& grad_out, const LoopSaved& saved, BackwardBuffers& buf) {
  const Tensor &hs = saved.hs, &cs = saved.cs, &gates = saved.gates, &w_hh = saved.w_hh;
  const OptTensor &ln_x_gain = saved.ln_x_gain, &ln_c_gain = saved.ln_c_gain;
  const OptTensor &w_hr = saved.w_hr, &rd_mask = saved.rd_mask;
  const int64_t steps = gates.size(0), batch = gates.size(1), four_h = gates.size(2);
  const int64_t hidden = four_h / 4, width = hs.size(2);
  const bool project = w_hr.has_value();
  const auto opts = gates.options();
  // dL/dh'_t (B, P) and dL/d(o * tanh(N_c(c'_t))) (B, H): the same buffer without projection.
  Tensor d_proj_in = at::empty({batch, hidden}, opts);
  Tensor dh_next = at::empty_like(buf.dh), dc_next = at::empty_like(buf.dc);
  // Per-thread scratch rows: d(a_t) when no (T, B, 4H) buffer keeps it, d N_c(c'_t), N_x's xhat.
  const int64_t threads = buf.threads;
  Tensor da_rows = buf.d_gates.defined() ? Tensor() : at::empty({threads, four_h}, opts);
  Tensor d_norm_rows = ln_c_gain.has_value() ? at::empty({threads, hidden}, opts) : Tensor();
  Tensor xhat_x_rows = ln_x_gain.has_value() ? at::empty({threads, four_h}, opts) : Tensor();

  const T *g_out = grad_out.data_ptr<T>(), *g_x = data_or_null<T>(saved.input_term);
  const T *c_states = cs.data_ptr<T>(), *cell_new = data_or_null<T>(saved.cell);
  const T *act = gates.data_ptr<T>(), *tanh_cell = saved.tanh_c.data_ptr<T>();
  const T *x_h = data_or_null<T>(saved.xhat_h), *r_h = data_or_null<T>(saved.rstd_h);
  const T *x_c = data_or_null<T>(saved.xhat_c), *r_c = data_or_null<T>(saved.rstd_c);
  const T *m_x = data_or_null<T>(saved.mean_x), *r_x = data_or_null<T>(saved.rstd_x);
  const T *gain_x = data_or_null<T>(ln_x_gain), *gain_h = data_or_null<T>(saved.ln_h_gain);
  const T* gain_c = data_or_null<T>(ln_c_gain);
  const T* peep = data_or_null<T>(saved.peephole);
  const T* pad = data_or_null<T>(saved.mask);
  const T* rd = data_or_null<T>(rd_mask);
  const Zoneout<T> zone_h(saved.zoneout_h), zone_c(saved.zoneout_c);
  T *d_gates = data_or_null<T>(buf.d_gates), *d_input = buf.d_input.data_ptr<T>();
  T *d_recurrent = buf.d_recurrent.data_ptr<T>(), *d_proj_out = data_or_null<T>(buf.d_proj_out);
  T *da_scratch = data_or_null<T>(da_rows), *d_norm_scratch = data_or_null<T>(d_norm_rows);
  T* xhat_x_scratch = data_or_null<T>(xhat_x_rows);
  T *acc_bias = data_or_null<T>(buf.acc_bias), *acc_gain_x = data_or_null<T>(buf.acc_gain_x);
  T *acc_gain_h = data_or_null<T>(buf.acc_gain_h), *acc_gain_c = data_or_null<T>(buf.acc_gain_c);
  T *acc_bias_c = data_or_null<T>(buf.acc_bias_c), *acc_peep = data_or_null<T>(buf.acc_peephole);

  // As in the forward loop, rows of the batch never meet: each thread runs every step for its
  // own block of rows, its GEMMs included, with no synchronisation between steps. dh and dc
  // alternate between two buffers, each thread swapping its own pointers.
  const Tensor w_hh_rows = w_hh.contiguous(), w_hr_rows = project ? w_hr->contiguous() : Tensor();
  const T *w_rec = w_hh_rows.data_ptr<T>(), *w_proj = project ? w_hr_rows.data_ptr<T>() : nullptr;
  T* d_m = d_proj_in.data_ptr<T>();  // dL/d(o * tanh(N_c(c'_t))) of the current step
  at::parallel_for(0, batch, grain_rows(steps * 3 * four_h), [&](int64_t b0, int64_t b1) {
    const int64_t s = at::get_thread_num();  // this thread's scratch and accumulators
    TORCH_CHECK(s < threads, "lstm_backward_loop: thread ", s, " of ", threads);
    const int64_t rows = b1 - b0;
    std::vector<T> d_rec_h(rd ? rows * width : 0);  // d(W_hh h_in)_t W_hh before the mask
    T *dh = buf.dh.data_ptr<T>(), *dc = buf.dc.data_ptr<T>();
    T *dh_prev = dh_next.data_ptr<T>(), *dc_prev = dc_next.data_ptr<T>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      T* d_h_new = project ? d_proj_out + t * batch * width : d_m;
      // Through h_t = m (z h_{t-1} + (1 - z) h'_t) + (1 - m) h_{t-1} and out_t = m h_t.
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        for_vectors<T>(width, [&](int64_t j, int64_t k) {
          Vec<T> d = load(dh + b * width + j, k);
          const Vec<T> d_out = load(g_out + row * width + j, k);
          Vec<T> d_prev(T(0));
          if (pad) {
            const Vec<T> m(pad[row]);
            d = at::vec::fmadd(d_out, m, d);
            d_prev = (Vec<T>(T(1)) - m) * d;
            d = d * m;
          } else {
            d = d + d_out;
          }
          if (zone_h.on) {
            const Vec<T> z = zone_h.at(row, width, j, k);
            d_prev = at::vec::fmadd(z, d, d_prev);
            d = d - z * d;
          }
          d.store(d_h_new + b * width + j, k);
          d_prev.store(dh_prev + b * width + j, k);
        });
      }
      if (project) {
        gemm_rows<T>(rows, hidden, width, d_proj_out + (t * batch + b0) * width, width, w_proj,
                     d_m + b0 * hidden);
      }
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * batch + b;
        const T* a = act + row * four_h;
        const T* tc_row = tanh_cell + row * hidden;
        const T* dm_row = d_m + b * hidden;
        const T* c_prev = c_states + row * hidden;
        // c'_t, before zoneout and padding, for the output peephole.
        const T* c_new = cell_new ? cell_new + row * hidden : c_states + (row + batch) * hidden;
        T* da = d_gates ? d_gates + row * four_h : da_scratch + s * four_h;
        // d N_c(c'_t) = dh' * o * (1 - tanh^2), then through the cell layer norm; the cell
        // gradient from the norm goes into da's g slot first, as scratch.
        if (gain_c) {
          T* d_norm = d_norm_scratch + s * hidden;
          for_vectors<T>(hidden, [&](int64_t j, int64_t k) {
            const Vec<T> tc = load(tc_row + j, k);
            const Vec<T> d = load(dm_row + j, k) * load(a + 3 * hidden + j, k) *
                             (Vec<T>(T(1)) - tc * tc);
            d.store(d_norm + j, k);
          });
          normalise_backward_row(d_norm, gain_c, x_c + row * hidden, r_c[row], hidden,
                                 da + 2 * hidden, acc_gain_c + s * hidden,
                                 acc_bias_c + s * hidden);
        }
        for_vectors<T>(hidden, [&](int64_t j, int64_t k) {
          const Vec<T> one(T(1));
          // Through c_t = m (z c_{t-1} + (1 - z) c'_t) + (1 - m) c_{t-1}.
          Vec<T> d_cell = load(dc + b * hidden + j, k);
          Vec<T> d_prev(T(0));
          if (pad) {
            const Vec<T> m(pad[row]);
            d_prev = (one - m) * d_cell;
            d_cell = d_cell * m;
          }
          if (zone_c.on) {
            const Vec<T> z = zone_c.at(row, hidden, j, k);
            d_prev = at::vec::fmadd(z, d_cell, d_prev);
            d_cell = d_cell - z * d_cell;
          }
          const Vec<T> i = load(a + j, k), f = load(a + hidden + j, k);
          const Vec<T> g = load(a + 2 * hidden + j, k), o = load(a + 3 * hidden + j, k);
          const Vec<T> tc = load(tc_row + j, k), dm = load(dm_row + j, k);
          if (gain_c) {
            d_cell = d_cell + load(da + 2 * hidden + j, k);
          } else {
            d_cell = at::vec::fmadd(dm * o, one - tc * tc, d_cell);
          }
          const Vec<T> d_o = dm * tc * o * (one - o);
          if (peep) d_cell = at::vec::fmadd(d_o, load(peep + 2 * hidden + j, k), d_cell);
          const Vec<T> c = load(c_prev + j, k);
          const Vec<T> d_i = d_cell * g * i * (one - i);
          const Vec<T> d_f = d_cell * c * f * (one - f);
          const Vec<T> d_g = d_cell * i * (one - g * g);
          d_prev = at::vec::fmadd(d_cell, f, d_prev);
          if (peep) {
            d_prev = at::vec::fmadd(d_i, load(peep + j, k), d_prev);
            d_prev = at::vec::fmadd(d_f, load(peep + hidden + j, k), d_prev);
            // dp_i += da_i c_{t-1}, dp_f += da_f c_{t-1}, dp_o += da_o c'_t
            T* acc = acc_peep + s * 3 * hidden + j;
            at::vec::fmadd(d_i, c, load(acc, k)).store(acc, k);
            at::vec::fmadd(d_f, c, load(acc + hidden, k)).store(acc + hidden, k);
            at::vec::fmadd(d_o, load(c_new + j, k), load(acc + 2 * hidden, k))
                .store(acc + 2 * hidden, k);
          }
          d_i.store(da + j, k);
          d_f.store(da + hidden + j, k);
          d_g.store(da + 2 * hidden + j, k);
          d_o.store(da + 3 * hidden + j, k);
          d_prev.store(dc_prev + b * hidden + j, k);
        });
        // Through a_t = N_x(x_t W_ih^T) + N_h(W_hh h_in); the shared shift gets sum da once.
        if (gain_h) {
          normalise_backward_row(da, gain_h, x_h + row * four_h, r_h[row], four_h,
                                 d_recurrent + row * four_h, acc_gain_h + s * four_h,
                                 acc_bias + s * four_h);
        }
        if (gain_x) {
          // N_x's xhat is recomputed from the input term x_t W_ih^T and its statistics.
          T* xhat = xhat_x_scratch + s * four_h;
          const T* in = g_x + row * four_h;
          const Vec<T> mean(m_x[row]), rstd(r_x[row]);
          for_vectors<T>(four_h,
                         [&](int64_t j, int64_t k) { ((load(in + j, k) - mean) * rstd).store(xhat + j, k); });
          normalise_backward_row(da, gain_x, xhat, r_x[row], four_h, d_input + row * four_h,
                                 acc_gain_x + s * four_h, gain_h ? nullptr : acc_bias + s * four_h);
        }
      }
      // dh_{t-1} += d(W_hh h_in)_t W_hh, times the recurrent dropout mask.
      const T* d_rec_rows = d_recurrent + (t * batch + b0) * four_h;
      T* dh_rows = dh_prev + b0 * width;
      if (rd) {
        gemm_rows<T>(rows, width, four_h, d_rec_rows, four_h, w_rec, d_rec_h.data());
        const T* r = rd + b0 * width;
        for_vectors<T>(rows * width, [&](int64_t j, int64_t k) {
          at::vec::fmadd(load(d_rec_h.data() + j, k), load(r + j, k), load(dh_rows + j, k))
              .store(dh_rows + j, k);
        });
      } else {
        gemm_rows<T>(rows, width, four_h, d_rec_rows, four_h, w_rec, dh_rows, /*accumulate=*/true);
      }
      std::swap(dh, dh_prev);
      std::swap(dc, dc_prev);
    }
  });
  // After an odd number of steps the gradients of h_0 and c_0 are in the other buffers.
  if (steps % 2 == 1) {
    std::swap(buf.dh, dh_next);
    std::swap(buf.dc, dc_next);
  }
}

std::vector<Tensor> backward_loop(const Tensor& grad_out, const Tensor& grad_h_n,
                                  const Tensor& grad_c_n, const LoopSaved& saved) {
  const Tensor& gates = saved.gates;
  const int64_t steps = gates.size(0), batch = gates.size(1), four_h = gates.size(2);
  const int64_t hidden = four_h / 4, width = saved.hs.size(2);
  const auto opts = gates.options();
  const bool norm_x = saved.ln_x_gain.has_value(), norm_h = saved.ln_h_gain.has_value();
  BackwardBuffers buf;
  if (!norm_x || !norm_h) buf.d_gates = at::empty({steps, batch, four_h}, opts);
  buf.d_input = norm_x ? at::empty({steps, batch, four_h}, opts) : buf.d_gates;
  buf.d_recurrent = norm_h ? at::empty({steps, batch, four_h}, opts) : buf.d_gates;
  if (saved.w_hr.has_value()) buf.d_proj_out = at::empty({steps, batch, width}, opts);
  const int64_t threads = buf.threads = at::get_num_threads();
  if (norm_x || norm_h) buf.acc_bias = at::zeros({threads, four_h}, opts);
  if (norm_x) buf.acc_gain_x = at::zeros({threads, four_h}, opts);
  if (norm_h) buf.acc_gain_h = at::zeros({threads, four_h}, opts);
  if (saved.ln_c_gain.has_value()) {
    buf.acc_gain_c = at::zeros({threads, hidden}, opts);
    buf.acc_bias_c = at::zeros({threads, hidden}, opts);
  }
  if (saved.peephole.has_value()) buf.acc_peephole = at::zeros({threads, 3, hidden}, opts);
  buf.dh = grad_h_n.clone(at::MemoryFormat::Contiguous);
  buf.dc = grad_c_n.clone(at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward_loop",
                             [&] { backward_loop_impl<scalar_t>(grad_out, saved, buf); });
  auto total = [](const Tensor& acc) { return acc.defined() ? at::sum(acc, 0) : Tensor(); };
  return {buf.d_input,           buf.d_recurrent,         buf.d_proj_out,
          buf.dh,                buf.dc,                  total(buf.acc_bias),
          total(buf.acc_gain_x), total(buf.acc_gain_h),   total(buf.acc_gain_c),
          total(buf.acc_bias_c), total(buf.acc_peephole)};
}

// The operators take the fields of LoopInputs and LoopSaved in order (the schemas below).
std::vector<Tensor> forward_loop_op(const Tensor& gates_x, const Tensor& w_hh, const Tensor& h0,
                                    const Tensor& c0, const OptTensor& ln_x_gain,
                                    const OptTensor& ln_x_bias, const OptTensor& ln_h_gain,
                                    const OptTensor& ln_h_bias, const OptTensor& ln_c_gain,
                                    const OptTensor& ln_c_bias, const OptTensor& peephole,
                                    const OptTensor& w_hr, const OptTensor& rd_mask,
                                    const OptTensor& zoneout_h, const OptTensor& zoneout_c,
                                    const OptTensor& mask, const OptTensor& w_ih,
                                    const OptTensor& input_bias, bool keep) {
  return forward_loop({gates_x, w_hh, h0, c0, ln_x_gain, ln_x_bias, ln_h_gain, ln_h_bias,
                       ln_c_gain, ln_c_bias, peephole, w_hr, rd_mask, zoneout_h, zoneout_c,
                       mask, w_ih, input_bias},
                      keep);
}

std::vector<Tensor> backward_loop_op(
    const Tensor& grad_out, const Tensor& grad_h_n, const Tensor& grad_c_n,
    const OptTensor& input_term, const Tensor& hs, const Tensor& cs, const Tensor& gates,
    const OptTensor& cell, const Tensor& tanh_c, const OptTensor& xhat_h, const OptTensor& rstd_h,
    const OptTensor& xhat_c, const OptTensor& rstd_c, const OptTensor& mean_x,
    const OptTensor& rstd_x, const Tensor& w_hh, const OptTensor& ln_x_gain,
    const OptTensor& ln_h_gain, const OptTensor& ln_c_gain, const OptTensor& peephole,
    const OptTensor& w_hr, const OptTensor& rd_mask, const OptTensor& zoneout_h,
    const OptTensor& zoneout_c, const OptTensor& mask) {
  return backward_loop(grad_out, grad_h_n, grad_c_n,
                       {input_term, hs, cs, gates, cell, tanh_c, xhat_h, rstd_h, xhat_c, rstd_c,
                        mean_x, rstd_x, w_hh, ln_x_gain, ln_h_gain, ln_c_gain, peephole, w_hr,
                        rd_mask, zoneout_h, zoneout_c, mask});
}

}  // namespace

TORCH_LIBRARY(lstmkit, m) {
  m.def(
      "lstm_forward_loop(Tensor gates_x, Tensor w_hh, Tensor h0, Tensor c0, Tensor? ln_x_gain, "
      "Tensor? ln_x_bias, Tensor? ln_h_gain, Tensor? ln_h_bias, Tensor? ln_c_gain, "
      "Tensor? ln_c_bias, Tensor? peephole, Tensor? w_hr, Tensor? rd_mask, Tensor? zoneout_h, "
      "Tensor? zoneout_c, Tensor? mask, Tensor? w_ih, Tensor? input_bias, bool keep) "
      "-> Tensor[]");
  m.def(
      "lstm_backward_loop(Tensor grad_out, Tensor grad_h_n, Tensor grad_c_n, Tensor? input_term, "
      "Tensor hs, Tensor cs, Tensor gates, Tensor? cell, Tensor tanh_c, Tensor? xhat_h, "
      "Tensor? rstd_h, Tensor? xhat_c, Tensor? rstd_c, Tensor? mean_x, Tensor? rstd_x, "
      "Tensor w_hh, Tensor? ln_x_gain, Tensor? ln_h_gain, Tensor? ln_c_gain, Tensor? peephole, "
      "Tensor? w_hr, Tensor? rd_mask, Tensor? zoneout_h, Tensor? zoneout_c, Tensor? mask) "
      "-> Tensor[]");
}

TORCH_LIBRARY_IMPL(lstmkit, CPU, m) {
  m.impl("lstm_forward_loop", &forward_loop_op);
  m.impl("lstm_backward_loop", &backward_loop_op);
}
