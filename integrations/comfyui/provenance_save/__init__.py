"""ComfyUI custom node "Save Image (Content Credentials)": ComfyUI's Save Image, stamped.

Copy this folder (``provenance_save``) into ``ComfyUI/custom_nodes/`` and install the tool into
ComfyUI's Python (``pip install provenance-tool``; keys once with ``provenance keys init``). The
node saves PNGs as ComfyUI's SaveImage does (same names and counter, the ``prompt`` and
``workflow`` text chunks), each one stamped before it is written: an invisible watermark, EXIF/XMP
and a signed C2PA manifest whose generation record is read from the workflow itself (checkpoints
with their roles, LoRAs, ControlNets, sampler, steps, CFG, seed, prompts), recorded in the
registry. Only the stamped file is ever written.

Nothing here imports ComfyUI, torch or the tool when ComfyUI loads the node: ``folder_paths`` (the
output folder, the file-name counter) is imported when the node runs, and a test passes the
output folder instead. ``PROVENANCE_HOME`` chooses the keys and registry, as for the command line.
"""
from __future__ import annotations

import io
import json
import os
import re
import time

NODE_NAME = "ProvenanceSaveImage"


def _output_directory() -> str:
    import folder_paths  # ComfyUI's module, there when ComfyUI runs the node

    return folder_paths.get_output_directory()


def _save_image_path(filename_prefix: str, output_dir: str, width: int, height: int):
    """(folder, file name stem, first counter, subfolder): ComfyUI's own ``get_save_image_path``
    when it is there, else the same rule (``%date%``-style variables, a subfolder in the prefix,
    the counter one past the highest ``stem_NNNNN_`` file already in the folder)."""
    try:
        import folder_paths
    except ImportError:
        folder_paths = None
    if folder_paths is not None:
        folder, stem, counter, subfolder, _prefix = folder_paths.get_save_image_path(filename_prefix, output_dir,
                                                                                     width, height)
        return folder, stem, counter, subfolder
    if "%" in filename_prefix:
        now = time.localtime()
        for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year),
                           ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}"),
                           ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                           ("%second%", f"{now.tm_sec:02}")):
            filename_prefix = filename_prefix.replace(key, str(value))
    normal = os.path.normpath(filename_prefix)
    subfolder, stem = os.path.dirname(normal), os.path.basename(normal)
    root = os.path.abspath(output_dir)
    folder = os.path.abspath(os.path.join(root, subfolder))
    if os.path.commonpath((root, folder)) != root:
        raise ValueError(f"filename_prefix {filename_prefix!r} leads outside the output folder {root}")
    os.makedirs(folder, exist_ok=True)
    pattern = re.compile(re.escape(stem) + r"_(\d+)_", re.IGNORECASE)
    numbers = [int(m.group(1)) for name in os.listdir(folder) if (m := pattern.match(name))]
    return folder, stem, max(numbers, default=0) + 1, subfolder


def _pixels(image):
    """A ComfyUI IMAGE (height x width x channels floats in 0..1, a torch tensor or an array) as uint8."""
    import numpy as np

    array = image.cpu().numpy() if hasattr(image, "cpu") else np.asarray(image)
    return np.clip(255.0 * array, 0, 255).astype(np.uint8)


def _png_as_comfyui_saves_it(pixels, prompt, extra_pnginfo) -> bytes:
    """The PNG ComfyUI's SaveImage would write: ``prompt`` = json.dumps(the API graph) and one
    chunk per ``extra_pnginfo`` entry (``workflow`` = the UI graph), through Pillow's PngInfo."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", pnginfo=info, compress_level=1)  # re-encoded when stamped
    return buf.getvalue()


class ProvenanceSaveImage:
    """Save Image (Content Credentials): saves the images to the output folder, each stamped
    with a watermark and signed Content Credentials describing the workflow that made it."""

    def __init__(self, output_dir: str | None = None) -> None:
        self._output_dir = output_dir  # ComfyUI passes nothing: its output folder, found when run
        self.type = "output"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save, stamped."}),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip":
                                               "As Save Image's: may hold a subfolder and %date%-style variables."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    DESCRIPTION = ("Saves the images like Save Image, each with an invisible watermark and signed C2PA Content "
                   "Credentials recording the workflow's checkpoints, LoRAs, sampler and seed.")

    def save_images(self, images, filename_prefix: str = "ComfyUI", prompt=None, extra_pnginfo=None):
        try:
            from provenance import OutputExistsError, Registry, load_identity, stamp_bytes
        except ImportError as e:
            raise RuntimeError("Save Image (Content Credentials) needs the provenance tool in ComfyUI's Python: "
                               "pip install provenance-tool, then provenance keys init") from e
        output_dir = self._output_dir or _output_directory()
        first = _pixels(images[0])
        folder, stem, counter, subfolder = _save_image_path(filename_prefix, output_dir, first.shape[1],
                                                            first.shape[0])
        identity = load_identity()  # once per run; a missing key is an error before anything is written
        results = []
        with Registry() as registry:
            for batch_number, image in enumerate(images):
                pixels = first if batch_number == 0 else _pixels(image)
                data = _png_as_comfyui_saves_it(pixels, prompt, extra_pnginfo)
                name_stem = stem.replace("%batch_num%", str(batch_number))
                for _attempt in range(100):  # another saver took the name meanwhile: the next number
                    file = f"{name_stem}_{counter:05}_.png"
                    try:
                        stamp_bytes(data, os.path.join(folder, file), identity=identity, registry=registry,
                                    from_metadata=True, name=file)
                        break
                    except OutputExistsError:
                        counter += 1
                else:
                    raise RuntimeError(f"no free file name for {name_stem} in {folder}")
                results.append({"filename": file, "subfolder": subfolder, "type": self.type})
                counter += 1
        return {"ui": {"images": results}}


NODE_CLASS_MAPPINGS = {NODE_NAME: ProvenanceSaveImage}
NODE_DISPLAY_NAME_MAPPINGS = {NODE_NAME: "Save Image (Content Credentials)"}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
