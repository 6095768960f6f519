#pragma once
// ReCAM (Chen et al., CVPR 2022; zhaozhengChen/ReCAM): fine-tunes a trained CAM
// classifier with an extra softmax cross-entropy on class features, and maps
// classes with the product of the two weight matrices (docs/recam.md).
//
// Training (step/train_recam.py, net/resnet50_cam.py): for each GT class c of an
// image, cam_c = relu(conv(feat, W_cls))_c / (its spatial max + 1e-5) and
// f_c = the spatial mean of cam_c * feat; a bias-free 1x1 predictor W_rec
// classifies f_c; loss = multi-label soft margin on the GAP logits
// + loss_weight * CE, where CE is each image's mean cross-entropy over its GT
// classes, summed over the batch and divided by the batch size.
// Inference: CAM = relu(conv(feat, W_rec * W_cls)) through IRN's make_cam.
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "wsss/io/manifest.hpp"
#include "wsss/io/vocab.hpp"
#include "wsss/models/cam_net.hpp"
#include "wsss/train/trainer.hpp"

namespace wsss::cam {

namespace fs = std::filesystem;

// ReCAM's recipe (run_sample.py, VOC): 4 epochs, predictor lr 5e-4, backbone and
// classifier 0.1x that, weight decay 1e-4, batch 16, the classifier's
// augmentation, PolyOptimizer (so momentum 1e-4, as IRN). `init` is the trained
// CAM classifier (required); arch and width come from it (empty/0 = take the
// file's; a different value is refused).
struct RecamTrainOptions : train::TrainOptions {
  int frozen_stages = 1;      // ReCAM trains everything after conv1/bn1 (no .detach())
  bool freeze_bn = true;      // FixedBatchNorm, as the classifier
  int resize_min = 320, resize_max = 640;
  int epochs = 4;
  double backbone_lr_mult = 0.1;  // backbone and classifier rate = lr * this
  double loss_weight = 1.0;       // lambda: 1 (VOC), 0.1 (COCO)

  RecamTrainOptions() {
    arch = "";
    width = 0;
    crop = 512;
    batch = 16;
    lr = 5e-4;
    weight_decay = 1e-4;
    momentum = 1e-4;
    poly_power = 0.9;
  }
  void validate() const;  // UsageError on a bad value
  nlohmann::json to_json() const;
};

// Trains ReCAM from the classifier options.init on `train` (image, labels) into
// out_dir (model.safetensors with wsss.model = recam-classifier: the backbone,
// the classifier and "predictor.weight"), with the shared loop's checkpoints,
// resume and refusal to clobber.
train::TrainResult train_recam(const Manifest& train, const Vocabulary& vocab, const fs::path& out_dir,
                               const RecamTrainOptions& options);

// The pieces of the loss, exposed for tests and benchmarks.
struct RecamLoss {
  torch::Tensor total, bce, ce;
  torch::Tensor accuracy;  // share of GT classes whose f_c the predictor classifies right
};

// relu(conv(feat, W)) / (spatial max + 1e-5): [B, K, h, w].
torch::Tensor normalised_cams(const torch::Tensor& feat, const torch::Tensor& classifier_weight);
// f_c = spatial mean of cams_c * feat for every class, as one batched matrix
// product: [B, K, C]. Memory B*K*C (the reference's broadcast needs B*K*C*h*w).
torch::Tensor class_features(const torch::Tensor& feat, const torch::Tensor& cams);
// The reference's formulation (cams.unsqueeze(2) * feat.unsqueeze(1), mean over
// h*w), for the test that both give the same loss.
torch::Tensor class_features_broadcast(const torch::Tensor& feat, const torch::Tensor& cams);
// Cross-entropy of the predictor on f_c against c over each image's GT classes
// (mean per image), summed over images and divided by the batch size; images
// without a class add 0, as the reference's Class_Predictor. `targets` [B, K].
torch::Tensor recam_cross_entropy(const torch::Tensor& class_features, const torch::Tensor& predictor_weight,
                                  const torch::Tensor& targets, torch::Tensor* accuracy = nullptr);
// The whole loss of one batch ([B,3,h,w] images, [B,K] multi-hot targets).
RecamLoss recam_loss(models::RecamNetImpl& net, const torch::Tensor& images, const torch::Tensor& targets,
                     double loss_weight);

}  // namespace wsss::cam
