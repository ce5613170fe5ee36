"""ComfyUI: the ``prompt`` (API) graph and the ``workflow`` (UI) graph.

ComfyUI's SaveImage writes ``prompt`` = json.dumps of the API graph ({node id: {"class_type",
"inputs"}}, a link being ``[node id, output index]``) and ``workflow`` = the UI graph (nodes with
``widgets_values``, a ``links`` table of ``[id, from node, from slot, to node, to slot, type]``).
Its WebP writer puts ``"prompt:" + json`` in EXIF Model and ``"workflow:" + json`` in EXIF Make.

We start at the sampler nearest to an output node and follow its latent back through earlier
samplers (an SDXL refiner after its base, a hires-fix second pass) to the first one, which added
the noise: its seed, steps, prompts and checkpoint are the generation's settings, and every
checkpoint of the chain is listed in order with its role (``base``, then ``refiner``). Walks are
breadth-first with a visited set and a visit budget: cycles, unknown custom nodes and huge graphs
end a walk, never the program.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from provenance import Lora
from provenance import LoadedImage

from ._model import GeneratorInfo
from ._sources import ImageSources
from ._values import clean_text, load_json, scalar, to_float, to_int

#: Largest graph we walk (nodes); bigger ones are reported and skipped.
MAX_NODES = 20_000
#: Most nodes one walk visits.
MAX_VISITS = 5_000

SAMPLER_TYPES = frozenset({
    "KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced",
    "KSampler (Efficient)", "KSampler Adv. (Efficient)", "KSampler SDXL (Eff.)",
})
MODEL_KEYS = ("ckpt_name", "unet_name", "base_ckpt_name", "model_name", "checkpoint")
TEXT_KEYS = ("text", "text_g", "text_l", "prompt", "string", "positive", "negative", "value")
#: Inputs through which one sampler's output reaches the next (latents, or decoded pixels).
LATENT_KEYS = ("latent_image", "samples", "latent", "pixels", "image", "images")
#: Most samplers one chain follows back (base, refiner, hires passes, detailers).
MAX_CHAIN = 16
#: Inputs that lead to the image being refined, not to the settings of this sampler.
NOT_SETTINGS = frozenset({"latent_image", "samples", "latent", "model", "positive", "negative", "clip",
                          "vae", "image", "images", "pixels", "conditioning", "mask", "control_net"})

#: widgets_values order of common nodes in the UI graph (ComfyUI's INPUT_TYPES order; seeds are
#: followed by the UI-only "control_after_generate" widget).
WIDGETS = {
    "KSampler": ("seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": ("add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name",
                         "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"),
    "SamplerCustom": ("add_noise", "noise_seed", "control_after_generate", "cfg"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g",
                           "text_l"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "RandomNoise": ("noise_seed", "control_after_generate"),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "CFGGuider": ("cfg",),
    "FluxGuidance": ("guidance",),
    "UpscaleModelLoader": ("model_name",),
}

Graph = dict[str, dict[str, Any]]


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool))


def graph_from_prompt(data: Any) -> Graph | None:
    """The API graph as {node id: {"class_type", "inputs"}}, or None when ``data`` is not one."""
    if not isinstance(data, dict) or not data or len(data) > MAX_NODES:
        return None
    graph = {}
    for node_id, node in data.items():
        if isinstance(node, dict) and isinstance(node.get("class_type"), str):
            inputs = node.get("inputs")
            graph[str(node_id)] = {"class_type": node["class_type"],
                                   "inputs": inputs if isinstance(inputs, dict) else {}}
    return graph or None


def graph_from_workflow(data: Any) -> Graph | None:
    """The UI graph turned into API form: widget values named where the node type is known."""
    if not isinstance(data, dict):
        return None
    nodes, links = data.get("nodes"), data.get("links")
    if not isinstance(nodes, list) or not nodes or len(nodes) > MAX_NODES:
        return None
    sources: dict[Any, list] = {}
    for link in links if isinstance(links, list) else []:
        if isinstance(link, list) and len(link) >= 5 and not isinstance(link[0], (list, dict)):
            sources[link[0]] = [str(link[1]), link[2] if isinstance(link[2], int) else 0]
        elif isinstance(link, dict) and "id" in link and "origin_id" in link:  # newer serialisation
            sources[link["id"]] = [str(link["origin_id"]), to_int(link.get("origin_slot")) or 0]
        if len(sources) > 4 * MAX_NODES:
            break
    graph: Graph = {}
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str) or str(node.get("id")) in graph:
            continue
        inputs: dict[str, Any] = {}
        widgets = node.get("widgets_values")
        if isinstance(widgets, list):
            for name, value in zip(WIDGETS.get(node["type"], ()), widgets):
                inputs[name] = value
        elif isinstance(widgets, dict):
            inputs.update({str(k): v for k, v in list(widgets.items())[:256]})
        slots = node.get("inputs")
        for slot in slots if isinstance(slots, list) else []:
            if isinstance(slot, dict) and isinstance(slot.get("name"), str):
                link = slot.get("link")
                if not isinstance(link, (list, dict)) and link in sources:
                    inputs[slot["name"]] = sources[link]
        graph[str(node.get("id"))] = {"class_type": node["type"], "inputs": inputs,
                                      "muted": node.get("mode") in (2, 4)}
    return graph or None


def _links(node: dict[str, Any], *, skip: frozenset[str] = frozenset(), only: tuple[str, ...] = ()):
    for name, value in node["inputs"].items():
        if _is_link(value) and name not in skip and (not only or name in only or
                                                     any(name.startswith(o) for o in only)):
            yield name, str(value[0])


def _walk(graph: Graph, start: str, *, skip: frozenset[str] = frozenset(), only: tuple[str, ...] = ()):
    """Nodes reachable from ``start`` backwards through links, breadth first, each once."""
    seen, queue = {start}, deque([start])
    while queue and len(seen) <= MAX_VISITS:
        node_id = queue.popleft()
        node = graph.get(node_id)
        if node is None:
            continue
        expand = yield node_id, node
        if expand is False:
            continue
        for _name, target in _links(node, skip=skip, only=only):
            if target not in seen:
                seen.add(target)
                queue.append(target)


def _find_scalar(graph: Graph, start: str, keys: tuple[str, ...]) -> Any:
    for _node_id, node in _walk(graph, start, skip=NOT_SETTINGS):
        for key in keys:
            value = node["inputs"].get(key)
            if value is not None and not _is_link(value) and scalar(value) is not None:
                return value
    return None


#: Inputs the prompt walk never follows: they do not carry the prompt's text.
_NOT_TEXT = frozenset({"clip", "model", "vae", "image", "images", "latent_image", "control_net"})


def _texts(graph: Graph, start: str | None, slot: int = 0) -> str | None:
    """Prompt text reachable from a conditioning input (stopping at each node that has text).

    ``slot`` is the output of ``start`` the input is linked to: a node that takes both a
    ``positive`` and a ``negative`` conditioning and passes both on (ControlNetApplyAdvanced,
    output 0 positive, output 1 negative) is followed only on the side that slot carries, so
    the negative prompt does not leak into the positive one."""
    if start is None:
        return None
    found: list[str] = []
    seen, queue = {(start, slot)}, deque([(start, slot)])
    while queue and len(seen) <= MAX_VISITS and len(found) < 16:
        node_id, out_slot = queue.popleft()
        node = graph.get(node_id)
        if node is None:
            continue
        inputs = node["inputs"]
        texts = [clean_text(inputs.get(k)) for k in TEXT_KEYS if isinstance(inputs.get(k), str)]
        texts = [t for t in texts if t]
        for text in texts:
            if text not in found:
                found.append(text)
        if texts:
            continue
        paired = _is_link(inputs.get("positive")) and _is_link(inputs.get("negative"))
        for name, value in inputs.items():
            if not _is_link(value) or name in _NOT_TEXT:
                continue
            if paired and name in ("positive", "negative") and name != ("negative" if out_slot == 1 else "positive"):
                continue
            target = (str(value[0]), value[1])
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return clean_text("\n".join(found))


def _find_input(graph: Graph, start: str, keys: tuple[str, ...]) -> tuple[str, int] | None:
    """The (node, output slot) linked to the first of ``keys`` found walking back from ``start``."""
    for _node_id, node in _walk(graph, start, skip=NOT_SETTINGS):
        for key in keys:
            value = node["inputs"].get(key)
            if _is_link(value):
                return str(value[0]), value[1]
    return None


def _model_and_loras(graph: Graph, start: str) -> tuple[str | None, list[Lora]]:
    model, loras = None, []
    for _node_id, node in _walk(graph, start, only=("model", "guider", "sigmas", "unet", "base_model")):
        inputs = node["inputs"]
        name = inputs.get("lora_name")
        if isinstance(name, str) and name and name != "None":
            weight = next((to_float(inputs.get(k)) for k in ("strength_model", "strength", "lora_strength")
                           if to_float(inputs.get(k)) is not None), None)
            loras.append(Lora(name=name[:500], weight=weight))
        for value in list(inputs.values())[:64]:  # stacker nodes: {"on": true, "lora": name, "strength": w}
            if isinstance(value, dict) and isinstance(value.get("lora"), str) and value.get("on", True):
                if value["lora"] and value["lora"] != "None":
                    loras.append(Lora(name=value["lora"][:500], weight=to_float(value.get("strength"))))
        if model is None:
            model = next((clean_text(inputs[k], limit=500) for k in MODEL_KEYS
                          if isinstance(inputs.get(k), str) and inputs.get(k)), None)
        if len(loras) >= 64:
            break
    return model, loras


#: Inputs through which conditioning reaches a sampler (ControlNet-apply nodes sit on this path).
CONDITIONING_KEYS = ("positive", "negative", "conditioning", "conditioning_to", "conditioning_from")
#: Nodes that load the images a ControlNet reads: not a preprocessor.
IMAGE_LOADERS = frozenset({"LoadImage", "LoadImageMask", "ImageScale", "ImageScaleBy", "LoadImageFromUrl"})


def _controlnets(graph: Graph, sampler: str, model_hashes: dict[str, str]) -> list[dict[str, Any]]:
    """ControlNets applied to the conditioning that reaches ``sampler``: each ControlNetApply /
    ControlNetApplyAdvanced (or any node with a ``control_net`` link and a strength) with its
    loader's model name, its strength and step range, and the node that made its control image
    when that is a preprocessor (Canny, a depth estimator) rather than an image loader."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _node_id, node in _walk(graph, sampler, only=CONDITIONING_KEYS):
        link = node["inputs"].get("control_net")
        if not _is_link(link) or str(link[0]) in seen:
            continue
        loader = graph.get(str(link[0]))
        name = loader["inputs"].get("control_net_name") if loader else None
        if not isinstance(name, str) or not name:
            continue
        seen.add(str(link[0]))
        unit: dict[str, Any] = {"name": name[:500]}
        for key, field_name in (("strength", "weight"), ("start_percent", "start"), ("end_percent", "end")):
            number = to_float(node["inputs"].get(key))
            if number is not None:
                unit[field_name] = number
        if name in model_hashes:
            unit["hash"] = model_hashes[name]
        image = node["inputs"].get("image")
        source = graph.get(str(image[0])) if _is_link(image) else None
        if source is not None and source["class_type"] not in IMAGE_LOADERS:
            unit["preprocessor"] = source["class_type"][:200]
        found.append(unit)
        if len(found) >= 16:
            break
    return found


def is_sampler(node: dict[str, Any]) -> bool:
    if node.get("muted"):
        return False
    inputs = node["inputs"]
    return node["class_type"] in SAMPLER_TYPES or {"sampler_name", "steps", "cfg"} <= inputs.keys()


def _sampler_chain(graph: Graph, last: str) -> list[str]:
    """The samplers whose output reaches ``last`` through its latent (or pixels), first to last:
    the first one made the image from noise, the later ones refined it."""
    chain, current = [last], last
    while len(chain) < MAX_CHAIN:
        previous = None
        for node_id, node in _walk(graph, current, only=LATENT_KEYS):
            if node_id != current and node_id not in chain and is_sampler(node):
                previous = node_id
                break
        if previous is None:
            break
        chain.append(previous)
        current = previous
    return chain[::-1]


def _pick_sampler(graph: Graph) -> str | None:
    outputs = [nid for nid, node in graph.items()
               if "save" in node["class_type"].lower() or "preview" in node["class_type"].lower()]
    for output in outputs[:8]:
        for node_id, node in _walk(graph, output):
            if is_sampler(node):
                return node_id
    samplers = [nid for nid, node in graph.items() if is_sampler(node)]

    def order(node_id: str) -> tuple[int, str]:
        number = to_int(node_id)
        return (number if number is not None else -1, node_id)

    return max(samplers, key=order) if samplers else None


def comfyui_info(graph: Graph, *, raw: dict[str, str], model_hashes: dict[str, str]) -> GeneratorInfo:
    """Settings of the sampling chain that made the output, read from an API-form graph: those of
    its first sampler (the base), with every checkpoint of the chain in order."""
    info = GeneratorInfo(tool="ComfyUI", source="local", raw=raw)
    last = _pick_sampler(graph)
    chain = _sampler_chain(graph, last) if last is not None else []
    sampler = chain[0] if chain else None
    if sampler is None:
        info.model, info.loras = None, []
        for node in list(graph.values())[:MAX_VISITS]:
            name = next((node["inputs"][k] for k in MODEL_KEYS if isinstance(node["inputs"].get(k), str)), None)
            if name:
                info.model = clean_text(name, limit=500)
                break
        return info
    node = graph[sampler]
    info.extra["sampler_node"] = node["class_type"][:200]
    info.seed = to_int(_find_scalar(graph, sampler, ("seed", "noise_seed")))
    info.steps = to_int(_find_scalar(graph, sampler, ("steps",)))
    info.cfg = to_float(_find_scalar(graph, sampler, ("cfg",)))
    info.sampler = clean_text(_find_scalar(graph, sampler, ("sampler_name",)), limit=200)
    info.scheduler = clean_text(_find_scalar(graph, sampler, ("scheduler",)), limit=200)
    denoise = to_float(_find_scalar(graph, sampler, ("denoise",)))
    if denoise is not None:
        info.extra["denoise"] = denoise
    positive_input = _find_input(graph, sampler, ("positive",)) or _find_input(graph, sampler, ("conditioning",))
    negative_input = _find_input(graph, sampler, ("negative",))
    positive = positive_input[0] if positive_input else None
    info.prompt = _texts(graph, *positive_input) if positive_input else None
    info.negative_prompt = _texts(graph, *negative_input) if negative_input else None
    guidance = to_float(_find_scalar(graph, positive, ("guidance",))) if positive else None
    if guidance is not None:
        info.extra["guidance"] = guidance
    if len(chain) > 1:
        info.extra["sampling_passes"] = len(chain)
    checkpoints: list[str] = []
    for step in chain:
        model, loras = _model_and_loras(graph, step)
        if model and model not in checkpoints:
            checkpoints.append(model)
        info.loras += [lo for lo in loras if lo.name not in {known.name for known in info.loras}]
    for lora in info.loras:  # the UI graph's models list names LoRAs too
        lora.hash = lora.hash or model_hashes.get(lora.name)
    for step in chain:
        info.controlnets += [cn for cn in _controlnets(graph, step, model_hashes)
                             if cn["name"] not in {known["name"] for known in info.controlnets}]
    info.model = checkpoints[0] if checkpoints else None
    if info.model:
        info.model_hash = model_hashes.get(info.model)
    info.checkpoints = [{"name": name, "role": "base" if i == 0 else "refiner",
                         **({"hash": model_hashes[name]} if name in model_hashes else {})}
                        for i, name in enumerate(checkpoints)]
    for _node_id, latent in _walk(graph, sampler, only=("latent_image", "samples", "latent", "pixels")):
        width, height = to_int(latent["inputs"].get("width")), to_int(latent["inputs"].get("height"))
        if width and height:
            info.width, info.height = width, height
            break
    for other in list(graph.values())[:MAX_NODES]:
        if other["class_type"] == "UpscaleModelLoader" and isinstance(other["inputs"].get("model_name"), str):
            info.upscaler = clean_text(other["inputs"]["model_name"], limit=500)
            break
    return info


def _workflow_model_hashes(workflow: Any) -> dict[str, str]:
    """The UI graph's ``models`` list ({"name", "hash"}) that newer frontends save."""
    out = {}
    models = workflow.get("models") if isinstance(workflow, dict) else None
    for item in models[:256] if isinstance(models, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("hash"), str):
            out[item["name"]] = item["hash"][:128]
    return out


def read_comfyui(loaded: LoadedImage, src: ImageSources) -> GeneratorInfo | None:
    """``prompt``/``workflow`` PNG chunks, or the "prompt:"/"workflow:" EXIF tags of ComfyUI's WebP."""
    texts: dict[str, str] = {}
    for key in ("prompt", "workflow"):
        if key in src.text:
            texts[f"png:{key}"] = src.text[key]
    for tag, value in src.exif_ifd0.items():
        if isinstance(value, str):
            for key in ("prompt", "workflow"):
                if value.startswith(key + ":") and f"png:{key}" not in texts:
                    texts[f"exif:{key}"] = value[len(key) + 1 :]
    if not texts:
        return None
    parsed = {where: load_json(text, where=where, errors=src.errors) for where, text in texts.items()}
    prompt = next((v for k, v in parsed.items() if k.endswith(":prompt")), None)
    workflow = next((v for k, v in parsed.items() if k.endswith(":workflow")), None)
    graph = graph_from_prompt(prompt)
    if graph is None:
        graph = graph_from_workflow(workflow)
    if graph is None:
        if isinstance(prompt, dict) and len(prompt) > MAX_NODES:
            src.errors.append(f"comfyui: graph of {len(prompt):,} nodes is over the {MAX_NODES:,}-node limit; ignored")
        return None
    return comfyui_info(graph, raw=texts, model_hashes=_workflow_model_hashes(workflow))
