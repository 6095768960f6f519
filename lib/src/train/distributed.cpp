#include "wsss/train/distributed.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "wsss/core/error.hpp"

namespace wsss::train {

struct ProcessGroup::Impl {
  Ranks ranks;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

std::string address(const Ranks& r) { return r.master_addr + ":" + std::to_string(r.master_port); }

// Tensors cut into runs of one dtype of at most `bytes` bytes (a larger tensor
// alone), in the order given.
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors, std::size_t bytes) {
  std::vector<std::vector<torch::Tensor>> out;
  std::size_t filled = 0;
  for (const torch::Tensor& t : tensors) {
    const std::size_t size = std::size_t(t.numel()) * t.element_size();
    if (out.empty() || out.back().front().scalar_type() != t.scalar_type() || filled + size > bytes) {
      out.emplace_back();
      filled = 0;
    }
    out.back().push_back(t);
    filled += size;
  }
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : tensors) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
  std::int64_t offset = 0;
  for (const torch::Tensor& t : tensors) {
    t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
    offset += t.numel();
  }
}

}  // namespace

ProcessGroup::ProcessGroup(const Ranks& ranks, std::chrono::seconds rendezvous_timeout, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->ranks = ranks;
  if (ranks.world < 1 || ranks.rank < 0 || ranks.rank >= ranks.world)
    throw Error("data-parallel training: rank " + std::to_string(ranks.rank) + " of " + std::to_string(ranks.world));
  try {
    c10d::TCPStoreOptions options;
    options.port = std::uint16_t(ranks.master_port);
    options.isServer = ranks.rank == 0 && !ranks.store_served;
    options.numWorkers = std::size_t(ranks.world);
    options.waitWorkers = !ranks.store_served;
    options.timeout = rendezvous_timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(ranks.master_addr, options);
    if (!ranks.store_prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(ranks.store_prefix, store);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("wsss/", store);
    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    if (!ranks.interface.empty())
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ranks.interface));
    else if (ranks.local_world >= ranks.world)
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, ranks.rank, ranks.world, gloo);
  } catch (const std::exception& e) {
    throw Error("data-parallel training: " + ranks.describe() + ": could not join the process group at " +
                address(ranks) + ": " + first_line(e.what()));
  }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->ranks.rank; }
int ProcessGroup::size() const { return impl_->ranks.world; }

namespace {

// One collective over `tensors` in buckets of about `bucket_bytes`: each bucket
// flattened, all started before any is waited for (Gloo overlaps them), then
// `finish` on each flat result before it is copied back.
template <typename Start, typename Finish>
void bucketed(const std::vector<torch::Tensor>& tensors, std::size_t bucket_bytes, Start start, Finish finish) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<torch::Tensor>> parts = buckets(tensors, bucket_bytes);
  std::vector<torch::Tensor> flat;
  std::vector<c10::intrusive_ptr<c10d::Work>> work;
  for (const auto& part : parts) {
    flat.push_back(flatten(part));
    std::vector<at::Tensor> one{flat.back()};
    work.push_back(start(one));
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    work[i]->wait();
    finish(flat[i]);
    unflatten_into(flat[i], parts[i]);
  }
}

}  // namespace

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors, std::size_t bucket_bytes) {
  bucketed(tensors, bucket_bytes, [&](std::vector<at::Tensor>& one) { return impl_->group->broadcast(one); },
           [](torch::Tensor&) {});
}

void ProcessGroup::average(const std::vector<torch::Tensor>& tensors, std::size_t bucket_bytes) {
  const double n = double(size());
  bucketed(tensors, bucket_bytes, [&](std::vector<at::Tensor>& one) { return impl_->group->allreduce(one); },
           [n](torch::Tensor& sum) { sum.div_(n); });
}

torch::Tensor ProcessGroup::sum(const torch::Tensor& local) {
  std::vector<at::Tensor> one{local.detach().clone().contiguous()};
  impl_->group->allreduce(one)->wait();
  return one[0];
}

void ProcessGroup::barrier() { impl_->group->barrier()->wait(); }

torch::Tensor GlobalBatch::sum(const torch::Tensor& local) const { return group ? group->sum(local) : local; }

torch::Tensor GlobalBatch::share(const torch::Tensor& local_sum, const torch::Tensor& denominator) const {
  return group ? local_sum * double(group->size()) / denominator : local_sum / denominator;
}

}  // namespace wsss::train
