#pragma once
// What the CAM classifier's training (IRN's train_cam.py) and ReCAM's
// (train_recam.py) share, private to the cam module: the data (images and
// image-level labels, IRN's epoch order and augmentation), the epoch schedule,
// the model metadata, conv1/bn1 frozen and SGD parameter groups.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/models/resnet.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::cam {

// IRN's classifier augmentation: the long side resized to a random integer in
// [resize_min, resize_max], a random horizontal flip, a random crop (padded
// with 0 after normalisation). Depends only on (seed, epoch, image id).
struct ClassifierAugmentation {
  int resize_min = 320, resize_max = 640, crop = 512;
  std::uint64_t seed = 0;
};

class ClassificationTask : public train::TrainTask {
 public:
  // Reads every record's labels (InputError naming the manifest and the item
  // when one has none). `kind` is the model files' wsss.model.
  ClassificationTask(const Manifest& data, const Vocabulary& vocab, int epochs, int batch,
                     const ClassifierAugmentation& augmentation, std::string kind, const std::string& device);

  train::Schedule schedule() const override;
  const models::ModelSpec& backbone_spec() const override { return spec_; }
  std::vector<std::string> resume_ignored() const override { return {"init"}; }
  std::map<std::string, std::string> model_metadata() const override;
  // Images [B, 3, crop, crop] and multi-hot targets [B, K].
  train::Batch load(std::size_t index) override;
  train::Batch load_part(std::size_t index, int part, int parts) override;

 protected:
  // conv1 and bn1 never train (IRN's and ReCAM's Net.train()).
  static void freeze_stem(torch::nn::Module& net);
  // The trainable parameters of `net` in groups: those under each of
  // `prefixes` (in order), then all the others (the backbone) last.
  static std::vector<std::vector<torch::Tensor>> parameter_groups(torch::nn::Module& net,
                                                                  const std::vector<std::string>& prefixes);
  // SGD over (parameters, learning rate) groups, one momentum and weight decay.
  static std::unique_ptr<torch::optim::SGD> make_sgd(
      const std::vector<std::pair<std::vector<torch::Tensor>, double>>& groups, double momentum, double weight_decay);

  const Manifest& data_;
  const Vocabulary& vocab_;
  int k_;
  int epochs_;
  train::EpochSampler sampler_;
  ClassifierAugmentation augmentation_;
  std::string kind_;
  std::vector<std::vector<int>> labels_;
  torch::Device device_;
  models::ModelSpec spec_;  // set by the derived task's constructor
};

}  // namespace wsss::cam
