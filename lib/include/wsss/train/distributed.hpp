#pragma once
// Data-parallel training on c10d's ProcessGroupGloo (docs/scale-out.md): the
// process group of a run, the collectives the training loop needs (rank 0's
// weights broadcast at the start, bucketed gradient averaging), and
// GlobalBatch, through which a loss that averages over the pixels of a whole
// batch sees the counts of every rank's slice. c10d and Gloo stay inside
// distributed.cpp.
#include <torch/torch.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "wsss/core/ranks.hpp"

namespace wsss::train {

class ProcessGroup {
 public:
  // Joins the process group of `ranks`: rank 0 serves the TCPStore at
  // master_addr:master_port (unless the launcher serves it), every rank
  // connects and Gloo pairs them up. Blocks until all world ranks have joined
  // or `rendezvous_timeout` passed (then Error naming the address). Collectives
  // fail after `timeout` without progress (a rank that died or hangs).
  explicit ProcessGroup(const Ranks& ranks, std::chrono::seconds rendezvous_timeout = std::chrono::minutes(10),
                        std::chrono::seconds timeout = std::chrono::hours(3));
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;

  // Rank 0's values copied into `tensors` on every rank, in place (flattened
  // per dtype into buckets of at most bucket_bytes).
  void broadcast(const std::vector<torch::Tensor>& tensors, std::size_t bucket_bytes = kBucketBytes);
  // Every tensor replaced by its mean over the ranks: summed by allreduce in
  // flattened buckets of at most bucket_bytes (in the order given; the buckets
  // are all in flight at once), then divided by size().
  void average(const std::vector<torch::Tensor>& tensors, std::size_t bucket_bytes = kBucketBytes);
  // The sum of `local` over the ranks (a new tensor, without autograd history).
  torch::Tensor sum(const torch::Tensor& local);
  void barrier();

  // DistributedDataParallel's default bucket size (bucket_cap_mb = 25).
  static constexpr std::size_t kBucketBytes = std::size_t(25) << 20;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole global batch as seen from one rank's slice of it. A loss that is a
// mean over samples needs nothing: the loop averages the ranks' gradients. A
// loss that divides by a count of the whole batch (a masked mean over pixels,
// pairs, labels) takes the count from sum() and its value from share(): the
// ranks' averaged gradients are then those of the one-process loss. On one
// process both are the plain expressions, bit for bit.
struct GlobalBatch {
  ProcessGroup* group = nullptr;  // null: one process

  int ranks() const { return group ? group->size() : 1; }
  // `local` (a count of this rank's slice) summed over the ranks, detached;
  // `local` itself on one process.
  torch::Tensor sum(const torch::Tensor& local) const;
  // This rank's part of (sum over every rank's `local_sum`) / denominator,
  // where denominator was made from sum(): local_sum * ranks / denominator,
  // which the loop's averaging over the ranks turns into the global quotient.
  torch::Tensor share(const torch::Tensor& local_sum, const torch::Tensor& denominator) const;
};

}  // namespace wsss::train
