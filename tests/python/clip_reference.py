#!/usr/bin/python3
"""An independent Python reference of CLIP and of CLIP-ES's per-image computation.

The model follows OpenAI's CLIP module structure, so that its state_dict names
are those of the released files (visual.conv1.weight, visual.transformer.
resblocks.N.attn.in_proj_weight, token_embedding.weight, text_projection, ...):
nn.MultiheadAttention blocks with QuickGELU MLPs, pre-norm, a causal mask in the
text tower. It is randomly initialised (seeded) and saved the way OpenAI's files
are: a TorchScript archive traced from the model, with the convolution, linear,
attention and projection weights stored in float16.

The CLIP-ES computation below is written from linyq2117/CLIP-ES's code paths
(generate_cams_voc12.py, clip/model.py, pytorch_grad_cam, utils.scoremap2bbox)
as described in shared/reference/reference-implementations.md section 3, with
no OpenCV (not in Debian's python3): the image resize is PIL's, contours'
bounding boxes come from 8-connected components, cv2.resize (bilinear) is
F.interpolate (align_corners=False). Like the reference it reruns the last
block for every class and takes gradients with hooks on ln_1.

Used by clip_fixture.py (agreement fixtures) and bench/clip_es_torch.py.
"""
from collections import OrderedDict, deque
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------- the model

class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computes in float32 whatever the input type."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = LayerNorm(width)
        self.attn_mask = attn_mask

    def attend(self, y):
        mask = self.attn_mask.to(y.dtype) if self.attn_mask is not None else None
        return self.attn(y, y, y, need_weights=True, attn_mask=mask)

    def forward(self, x):
        out, _ = self.attend(self.ln_1(x))
        x = x + out
        return x + self.mlp(self.ln_2(x))

    def forward_with_attention(self, x):
        """The block and its head-averaged attention weights [N, L, L] (x is [L, N, D])."""
        out, weights = self.attend(self.ln_1(x))
        x = x + out
        return x + self.mlp(self.ln_2(x)), weights


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.input_resolution, self.patch_size = input_resolution, patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        """CLIP's image embedding at the pretrained resolution: the class token."""
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length, vocab_size, transformer_width, transformer_heads, transformer_layers):
        super().__init__()
        self.context_length = context_length
        self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers,
                                        vision_width // 64, embed_dim)
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads, mask)
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(100.0))  # the released models' value
        self.init_weights()

    def init_weights(self):
        # OpenAI's initialize_parameters, applied to both towers here so that a
        # random model has attention and MLPs of the trained models' scale.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        for tower, sharpen in ((self.transformer, 1.0), (self.visual.transformer, 3.0)):
            proj_std = (tower.width ** -0.5) * ((2 * tower.layers) ** -0.5)
            attn_std, fc_std = tower.width ** -0.5, (2 * tower.width) ** -0.5
            for block in tower.resblocks:
                # The image tower's attention 3x sharper than OpenAI's init: a
                # random model's attention is otherwise nearly uniform, and so
                # would be the affinity CLIP-ES refines with.
                nn.init.normal_(block.attn.in_proj_weight, std=attn_std * sharpen)
                nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
                nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
                nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
                # Non-zero biases and norms, so that a swapped or ignored one shows.
                nn.init.normal_(block.attn.in_proj_bias, std=0.02)
                nn.init.normal_(block.attn.out_proj.bias, std=0.02)
                nn.init.normal_(block.mlp.c_fc.bias, std=0.02)
                nn.init.normal_(block.mlp.c_proj.bias, std=0.02)
                for ln in (block.ln_1, block.ln_2):
                    nn.init.normal_(ln.weight, mean=1.0, std=0.1)
                    nn.init.normal_(ln.bias, std=0.05)
        for ln in (self.ln_final, self.visual.ln_pre, self.visual.ln_post):
            nn.init.normal_(ln.weight, mean=1.0, std=0.1)
            nn.init.normal_(ln.bias, std=0.05)
        nn.init.normal_(self.text_projection, std=self.transformer.width ** -0.5)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        i = self.encode_image(image)
        t = self.encode_text(text)
        i = i / i.norm(dim=1, keepdim=True)
        t = t / t.norm(dim=1, keepdim=True)
        logits = self.logit_scale.exp() * i @ t.t()
        return logits, logits.t()


def half_weight_names(model):
    """What OpenAI's convert_weights stores in float16: conv/linear weights and
    biases, the attention in-projection, and the two projections."""
    names = []
    for mod_name, mod in model.named_modules():
        prefix = mod_name + "." if mod_name else ""
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            names += [prefix + "weight"] + ([prefix + "bias"] if mod.bias is not None else [])
        if isinstance(mod, nn.MultiheadAttention):
            names += [prefix + "in_proj_weight", prefix + "in_proj_bias"]
    return names + ["visual.proj", "text_projection"]


def make_model(seed, width=128, layers=10, patch=16, resolution=112, text_width=128, text_layers=3,
               embed_dim=96, vocab=49408, context=77):
    torch.manual_seed(seed)
    model = CLIP(embed_dim, resolution, layers, width, patch, context, vocab, text_width, text_width // 64,
                 text_layers).eval()
    return model


def save_like_openai(model, path):
    """A TorchScript archive traced from the model (forward, encode_image,
    encode_text), whose float16 tensors are those OpenAI's files hold in float16.
    Returns the state_dict as stored (float16 where stored so)."""
    res = model.visual.input_resolution
    image = torch.randn(1, 3, res, res)
    text = torch.zeros(2, model.context_length, dtype=torch.long)
    text[:, 0], text[:, 1], text[:, 2] = 49406, 320, 49407
    # Round the float16 tensors first, so the traced constants and the stored
    # parameters agree; then store them as float16 in the archive.
    half = set(half_weight_names(model))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in half:
                p.copy_(p.half().float())
        traced = torch.jit.trace_module(model, {"forward": (image, text), "encode_image": (image,),
                                                "encode_text": (text,)})
        for name, p in traced.named_parameters():
            if name in half:
                p.data = p.data.half()
    traced.save(path)
    return {k: v.clone() for k, v in torch.jit.load(path).state_dict().items()}


def load_like_clip(path, **shape):
    """clip.load(jit=False) on the CPU: the archive's state_dict into an eager
    model of the same shape, in float32."""
    state = torch.jit.load(path, map_location="cpu").state_dict()
    vision_width = state["visual.conv1.weight"].shape[0]
    layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    text_layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    patch = state["visual.conv1.weight"].shape[-1]
    model = CLIP(state["text_projection"].shape[1], patch * grid, layers, vision_width, patch,
                 state["positional_embedding"].shape[0], state["token_embedding.weight"].shape[0],
                 state["ln_final.weight"].shape[0], state["ln_final.weight"].shape[0] // 64, text_layers)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.float().eval()


# ---------------------------------------------------------------- CLIP-ES

def clip_es_input(path_or_image, patch=16):
    """PIL bicubic resize to multiples of the patch (as torchvision's Resize of
    a PIL image), ToTensor, Normalize: [1, 3, H', W']."""
    img = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    w, h = img.size
    nh, nw = int(np.ceil(h / patch) * patch), int(np.ceil(w / patch) * patch)
    img = img.resize((nw, nh), Image.BICUBIC).convert("RGB")
    x = torch.from_numpy(np.array(img, np.uint8, copy=True)).permute(2, 0, 1).contiguous().float().div(255)
    mean = torch.as_tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.as_tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)
    return x.sub(mean).div(std).unsqueeze(0), (h, w)


def upsampled_positions(visual, gh, gw):
    """CLIP-ES's upsample_pos_emb: bilinear (F.upsample's default align_corners),
    kept as a float16 Parameter."""
    emb = visual.positional_embedding
    first, rest = emb[:1], emb[1:]
    n, d = rest.shape
    g = int(np.sqrt(n))
    rest = rest.permute(1, 0).reshape(1, d, g, g)
    rest = F.interpolate(rest, size=(gh, gw), mode="bilinear", align_corners=False)
    rest = rest.reshape(d, -1).permute(1, 0)
    return torch.cat([first, rest], 0).half().float()


def text_features(model, token_rows):
    """zeroshot_classifier with one template: normalise, mean, normalise."""
    with torch.no_grad():
        t = torch.zeros(len(token_rows), model.context_length, dtype=torch.long)
        for i, ids in enumerate(token_rows):
            t[i, :len(ids)] = torch.tensor(ids)
        raw = model.encode_text(t)
        e = raw / raw.norm(dim=-1, keepdim=True)
        return raw, e / e.norm(dim=-1, keepdim=True)


def scale_cam_image(cams, target_size=None):
    """pytorch-grad-cam's scale_cam_image (numpy float32); target_size (W, H)."""
    out = []
    for img in cams:
        img = img - np.min(img)
        img = img / (1e-7 + np.max(img))
        if target_size is not None:
            t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
            img = F.interpolate(t, size=(target_size[1], target_size[0]), mode="bilinear",
                                align_corners=False)[0, 0].numpy()
        out.append(img)
    return np.float32(out)


def component_boxes(binary):
    """Bounding boxes (x, y, w, h) of the 8-connected components of a 0/1 array:
    the union of the boxes of all cv2.findContours(RETR_TREE) contours (holes
    and what lies in them are inside their component's box)."""
    h, w = binary.shape
    seen = np.zeros_like(binary, dtype=bool)
    boxes = []
    for sy in range(h):
        for sx in range(w):
            if not binary[sy, sx] or seen[sy, sx]:
                continue
            q = deque([(sy, sx)])
            seen[sy, sx] = True
            y0 = y1 = sy
            x0 = x1 = sx
            while q:
                y, x = q.popleft()
                y0, y1, x0, x1 = min(y0, y), max(y1, y), min(x0, x), max(x1, x)
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < h and 0 <= nx < w and binary[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            q.append((ny, nx))
            boxes.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    return boxes


def box_mask(cam, threshold):
    """scoremap2bbox(multi_contour_eval=True) and the mask the reference fills."""
    h, w = cam.shape
    u8 = (cam * 255).astype(np.uint8)
    binary = u8 > int(threshold * np.max(u8))
    mask = torch.zeros((h, w))
    for x, y, bw, bh in component_boxes(binary):
        x1, y1 = min(x + bw, w - 1), min(y + bh, h - 1)
        mask[y:y1, x:x1] = 1
    return mask


def clip_es(model, image, fg_features, bg_features, label_ids, box_threshold=0.4, affinity_blocks=8):
    """CLIP-ES for one image [1,3,H',W'] and its 0-based class rows of
    fg_features. Returns a dict of the intermediate and final maps."""
    visual = model.visual
    _, _, H, W = image.shape
    p = visual.patch_size
    gh, gw = H // p, W // p
    blocks = visual.transformer.resblocks
    with torch.no_grad():  # encode_image: all blocks but the last, no grad
        x = visual.conv1(image).reshape(1, visual.conv1.out_channels, -1).permute(0, 2, 1)
        cls = visual.class_embedding + torch.zeros(1, 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + upsampled_positions(visual, gh, gw)
        x = visual.ln_pre(x).permute(1, 0, 2)
        attn = []
        for blk in list(blocks)[:-1]:
            x, a = blk.forward_with_attention(x)
            attn.append(a)
    text = torch.cat([fg_features[label_ids], bg_features], 0)

    # GradCAM on the last block's ln_1, target = softmax score of the class,
    # the last block rerun for every class (forward_last_layer).
    last = blocks[-1]
    store = {}

    def keep_activation(module, inputs, output):
        store["act"] = output.detach()
        output.register_hook(lambda g: store.__setitem__("grad", g.detach()))

    handle = last.ln_1.register_forward_hook(keep_activation)
    gradcams, probs, last_attn, feature = [], None, None, None
    try:
        for k in range(len(label_ids)):
            y, a = last.forward_with_attention(x)
            y = visual.ln_post(y.permute(1, 0, 2))
            f = torch.mean(y[:, 1:, :], dim=1) @ visual.proj
            fn = f / f.norm(dim=1, keepdim=True)
            tn = text / text.norm(dim=1, keepdim=True)
            scores = (model.logit_scale.exp() * fn @ tn.t()).softmax(dim=-1)
            model.zero_grad()
            scores[0][k].backward(retain_graph=True)
            act = store["act"].permute(1, 0, 2)[:, 1:, :].reshape(1, gh, gw, -1).permute(0, 3, 1, 2).numpy()
            grad = store["grad"].permute(1, 0, 2)[:, 1:, :].reshape(1, gh, gw, -1).permute(0, 3, 1, 2).numpy()
            w = np.mean(grad, axis=(2, 3))
            cam = (w[:, :, None, None] * act).sum(axis=1)
            cam = np.maximum(cam, 0).astype(np.float32)
            cam = scale_cam_image(cam)[:, None, :]                 # per layer
            cam = scale_cam_image(np.mean(np.maximum(cam, 0), axis=1))  # aggregate
            gradcams.append(cam[0])
            if k == 0:
                probs, last_attn, feature = scores[0].detach(), a.detach(), f[0].detach()
    finally:
        handle.remove()

    # Class-aware attention affinity.
    maps = attn + [last_attn]
    aw = torch.stack([m[:, 1:, 1:] for m in maps], 0)[-affinity_blocks:]
    aff = torch.mean(aw, dim=0)[0].float()
    t = aff / torch.sum(aff, dim=0, keepdim=True)
    t = t / torch.sum(t, dim=1, keepdim=True)
    for _ in range(2):
        t = t / torch.sum(t, dim=0, keepdim=True)
        t = t / torch.sum(t, dim=1, keepdim=True)
    t = (t + t.transpose(1, 0)) / 2
    t = torch.matmul(t, t)
    refined_grid, masks = [], []
    for cam in gradcams:
        mask = box_mask(cam, box_threshold)
        masks.append(mask.numpy())
        r = torch.matmul(t * mask.view(1, gh * gw), torch.FloatTensor(cam).view(-1, 1)).reshape(gh, gw)
        refined_grid.append(r.numpy().astype(np.float32))
    return {"feature": feature.numpy(), "probabilities": probs.numpy(), "gradcam": np.stack(gradcams),
            "affinity": t.numpy(), "box_masks": np.stack(masks), "refined_grid": np.stack(refined_grid)}


def refined_at(refined_grid, height, width):
    """scale_cam_image([cam_refined], (W, H)) for each class."""
    return np.stack([scale_cam_image([r], (width, height))[0] for r in refined_grid])


def background_labels(maps, classes):
    """The (1 - max)^1 background rule: label ids per pixel."""
    bg = (1 - maps.max(0)) ** 1
    scores = np.concatenate([bg[None], maps], 0)
    ids = np.array([0] + list(classes))
    return ids[scores.argmax(0)]


def tag_scores(model, image, fg_features, bg_features):
    """Each class prompt against the background set: softmax over [c, bg] at c."""
    with torch.no_grad():
        visual = model.visual
        _, _, H, W = image.shape
        p = visual.patch_size
        x = visual.conv1(image).reshape(1, visual.conv1.out_channels, -1).permute(0, 2, 1)
        cls = visual.class_embedding + torch.zeros(1, 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + upsampled_positions(visual, H // p, W // p)
        x = visual.transformer(visual.ln_pre(x).permute(1, 0, 2))
        y = visual.ln_post(x.permute(1, 0, 2))
        f = torch.mean(y[:, 1:, :], dim=1) @ visual.proj
        f = f / f.norm(dim=1, keepdim=True)
        out = []
        for c in range(fg_features.shape[0]):
            t = torch.cat([fg_features[c:c + 1], bg_features], 0)
            out.append(float((model.logit_scale.exp() * f @ t.t()).softmax(-1)[0, 0]))
        return np.array(out, np.float32)
