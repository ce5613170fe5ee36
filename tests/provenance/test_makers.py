"""The table of known makers (provenance/makers/makers.json): every row recognised from a manifest
built to the service's documented shape (claim generator, actions, signer names, or the metadata a
local tool writes), signed with a certificate the test makes; ``how`` gets vendor, product and
source; a generator named by the creating action declares AI without a source type."""
from __future__ import annotations

import json

import pytest

from support.generator_files import TOOL_FILES, png_with_text
from support.signing import MakerCA, jpeg_bytes, sign_image
from provenance import VerifyOptions, verify_bytes
from provenance._makers import makers

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_AI = IPTC + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = IPTC + "digitalCapture"


def created(agent=None, dst=None, **more) -> dict:
    a = {"action": "c2pa.created"}
    if agent:
        a["softwareAgent"] = agent
    if dst:
        a["digitalSourceType"] = dst
    return {**a, **more}


def xmp_packet(**props) -> str:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in props.items())
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
            f'{body}</rdf:Description></rdf:RDF></x:xmpmeta>')


def case(row, *, claim=None, signer="Content Signer", org="Example Service", actions=(), text=None, ai=True,
         source=None, model=None):
    """One row's file: a manifest (claim generator ``claim`` = (name, version), ``actions``) signed by
    ``signer`` of ``org``; ``text``: PNG text chunks as the tool writes them (metadata-only makers)."""
    return pytest.param(dict(claim=claim, signer=signer, org=org, actions=list(actions), text=text),
                        row, ai, source, model, id=row)


CASES = [
    # OpenAI: observed names (issue 22); ChatGPT's c2pa.created carries no digitalSourceType
    case("openai-sora", claim=("Sora", None), signer="Truepic Lens CLI in Sora", org="OpenAI",
         actions=[created({"name": "Sora"}, AI)]),
    case("openai-chatgpt", claim=("ChatGPT", None), signer="Truepic Lens CLI in ChatGPT", org="OpenAI",
         actions=[created("GPT-4o")], model="GPT-4o"),
    case("openai-images-api", claim=("OpenAI API", None), signer="Truepic Lens CLI", org="OpenAI",
         actions=[created("gpt-image-1")], model="gpt-image-1"),
    # Adobe
    case("adobe-firefly-partner-model", claim=("Adobe_Firefly", "1.0"), signer="cai-prod", org="Adobe Inc.",
         actions=[{"action": "c2pa.opened",
                   "parameters": {"com.adobe.remoteProvider.3rdParty": "gemini-2.5-flash-image"}}],
         model="gemini-2.5-flash-image"),
    case("adobe-photoshop-generative-fill", claim=("Adobe_Photoshop", "25.0"), signer="cai-prod", org="Adobe Inc.",
         actions=[{"action": "c2pa.opened"},
                  {"action": "c2pa.edited", "softwareAgent": {"name": "Adobe Firefly"},
                   "description": "Generative Fill", "digitalSourceType": COMPOSITE_AI}]),
    case("adobe-firefly", claim=("Adobe_Firefly", "1.0"), signer="cai-prod", org="Adobe Inc.",
         actions=[created({"name": "Adobe Firefly"})]),
    case("adobe-express", claim=("Adobe_Express", "1.0"), signer="cai-prod", org="Adobe Inc.",
         actions=[created({"name": "Adobe Express"}, AI)]),
    case("adobe-photoshop", claim=("Adobe_Photoshop", "25.0"), signer="cai-prod", org="Adobe Inc.",
         actions=[{"action": "c2pa.opened"}, {"action": "c2pa.color_adjustments"}], ai=None, source="local"),
    # Google
    case("google-pixel-camera", claim=("Pixel Camera", "10"), signer="Google LLC", org="Google LLC",
         actions=[created({"name": "Pixel Camera"}, CAPTURE)], ai=False, source="capture"),
    case("google-pixel-studio", claim=("Pixel Studio", "1.0"), signer="Google LLC", org="Google LLC",
         actions=[created({"name": "Pixel Studio"}, AI)]),
    case("google-imagen", claim=("Google C2PA Core Generator Library", "1.0"),
         signer="Google Media Processing Services", org="Google LLC", actions=[created({"name": "Imagen 4"}, AI)],
         model="Imagen 4"),
    case("google-gemini", claim=("Google C2PA Core Generator Library", "1.0"),
         signer="Google Media Processing Services", org="Google LLC", actions=[created(None, AI)]),
    # Microsoft
    case("microsoft-bing-image-creator", claim=("Microsoft_Responsible_AI", "1.0"), signer="Microsoft Corporation",
         org="Microsoft Corporation", actions=[created({"name": "Bing Image Creator"}, AI)]),
    case("microsoft-copilot", claim=("Microsoft_Responsible_AI", "1.0"), signer="Microsoft Corporation",
         org="Microsoft Corporation", actions=[created({"name": "Microsoft Copilot"}, AI)]),
    case("microsoft-designer", claim=("Microsoft_Responsible_AI", "1.0"), signer="Microsoft Corporation",
         org="Microsoft Corporation", actions=[created(None, AI)]),
    # Amazon
    case("amazon-nova", claim=("Amazon Bedrock", None), signer="Amazon Web Services", org="Amazon",
         actions=[created({"name": "Amazon Nova Canvas"}, AI)]),
    case("amazon-titan", claim=("Amazon Bedrock", None), signer="Amazon Web Services", org="Amazon",
         actions=[created({"name": "Amazon Titan Image Generator"}, AI)]),
    # other services
    case("meta-ai", claim=("Meta AI", None), signer="Meta Platforms", org="Meta", actions=[created(None, AI)]),
    case("midjourney", claim=("Midjourney", "7"), signer="Midjourney", org="Midjourney",
         actions=[created({"name": "Midjourney"}, AI)]),
    case("stability-api", claim=("Stability AI API", "2"), signer="Stability AI", org="Stability AI",
         actions=[created({"name": "Stable Image Ultra"}, AI)], model="Stable Image Ultra"),
    case("leonardo", claim=("Leonardo.Ai", None), signer="Leonardo Interactive", org="Leonardo",
         actions=[created(None, AI)]),
    case("ideogram", claim=("Ideogram", "3.0"), signer="Ideogram AI", org="Ideogram", actions=[created(None, AI)]),
    case("runway", claim=("Runway", "Gen-4"), signer="Runway AI", org="Runway", actions=[created(None, AI)]),
    case("canva", claim=("Canva", None), signer="Canva Pty Ltd", org="Canva",
         actions=[created({"name": "Magic Media"}, AI)]),
    case("novelai", text={"Software": "NovelAI", "Description": "a fox",
                          "Comment": json.dumps({"prompt": "a fox", "steps": 28, "seed": 1})}),
    # local tools: the metadata each writes (no manifest of their own), or our stamp naming them
    case("automatic1111", text=TOOL_FILES["a1111"].text, source="local"),
    case("forge", claim=("provenance", "0.1.0"), actions=[created({"name": "Forge", "version": "f2.0"}, AI)],
         source="local"),
    case("comfyui", text=TOOL_FILES["comfyui-base-refiner"].text, source="local"),
    case("invokeai", text=TOOL_FILES["invokeai-3"].text, source="local"),
    case("fooocus", text=TOOL_FILES["fooocus"].text, source="local"),
    case("draw-things", claim=("provenance", "0.1.0"), actions=[created({"name": "Draw Things"}, AI)],
         source="local"),
    case("easy-diffusion", claim=("provenance", "0.1.0"), actions=[created({"name": "Easy Diffusion"}, AI)],
         source="local"),
    case("swarmui", claim=("provenance", "0.1.0"), actions=[created({"name": "SwarmUI"}, AI)], source="local"),
    case("diffusers", claim=("provenance", "0.1.0"), actions=[created({"name": "diffusers", "version": "0.31"}, AI)],
         source="local"),
    case("provenance-stamp", claim=("provenance", "0.1.0"), actions=[created({"name": "sdxl-base-1.0"}, AI)],
         source="local"),
    # cameras: capture devices
    *[case(row, claim=(name, "1.0"), signer=f"{name} Content Signer", org=name, actions=[created(None, CAPTURE)],
           ai=False, source="capture")
      for row, name in (("leica", "Leica Camera AG"), ("nikon", "Nikon"), ("sony", "Sony"), ("canon", "Canon"),
                        ("fujifilm", "FUJIFILM"), ("samsung-camera", "Samsung"))],
]


def build(spec: dict) -> bytes:
    data = png_with_text(spec["text"]) if spec["text"] else jpeg_bytes()
    if spec["claim"] is None:
        return data
    name, version = spec["claim"]
    actions = spec["actions"]
    manifest = {"claim_generator_info": [{"name": name, **({"version": version} if version else {})}],
                "title": "image", "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}]}
    if any(a["action"] == "c2pa.created" and "digitalSourceType" not in a for a in actions) or \
            any(a["action"] == "c2pa.opened" for a in actions):
        manifest["claim_version"] = 1  # as the services' c2pa-rs 0.17-0.28 wrote them (v2 requires a source type)
    chain, key = MakerCA(spec["org"]).signer(spec["signer"])
    return sign_image(manifest, chain, key, data, mime="image/png" if spec["text"] else "image/jpeg")


def test_every_row_has_a_case():
    """Each row of the table is exercised below, and each row says what it is and why."""
    ids = [r.id for r in makers()]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(p.id for p in CASES)
    for r in makers():
        assert r.doc and r.basis in ("observed", "documented", "named") and r.match


@pytest.mark.parametrize("spec,row,ai,source,model", CASES)
def test_row_is_recognised(home, spec, row, ai, source, model):
    """The file's maker is the row's: vendor, product and source in ``how``, the label AI (or a
    capture, or neither for an editor), the summary naming it."""
    report = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False))
    maker = next(r for r in makers() if r.id == row)
    how = report.verdict.how
    assert report.c2pa.status in ("valid", "absent"), (report.c2pa.status, report.c2pa.codes)
    assert how.get("maker") == row, (how, report.c2pa.claim_generators, report.c2pa.actions)
    assert how["vendor"] == maker.vendor and how["product"] == maker.product
    assert how["source"] == (source or maker.source)
    if model:
        assert how["model"] == model
    label = report.verdict.label
    if ai:
        assert label == "ai-generated", report.verdict
    elif ai is False:
        assert label == "camera-signed", report.verdict
    else:
        assert label == "unknown"
    said = f"Captured with a {maker.display}." if maker.source == "capture" else f"Made with {maker.display}, "
    assert said in report.verdict.summary


def test_firefly_summary_says_cloud_service(home):
    """The summary a reader sees: "made with Adobe Firefly, a cloud service"."""
    spec = next(p.values[0] for p in CASES if p.id == "adobe-firefly")
    v = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False)).verdict
    assert v.summary.endswith("Made with Adobe Firefly, a cloud service.")
    assert v.rules[0] == "c2pa-ai-agent" and v.confidence == 0.85  # below a declared source type's 0.95


def test_created_by_generator_without_source_type_is_ai_at_lower_confidence(home):
    """ChatGPT's shape (c2pa.created naming the model, no digitalSourceType) is an AI declaration,
    stated below a declared source type; the same manifest with the source type is 0.95."""
    spec = next(p.values[0] for p in CASES if p.id == "openai-chatgpt")
    without = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False)).verdict
    assert without.label == "ai-generated" and without.rules[0] == "c2pa-ai-agent" and without.confidence == 0.85
    spec = dict(spec, actions=[created("GPT-4o", AI)])
    declared = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False)).verdict
    assert declared.rules[0] == "c2pa-ai" and declared.confidence == 0.95 > without.confidence


def test_opening_a_file_in_a_generator_app_is_not_a_declaration(home):
    """c2pa.opened in a Firefly manifest, with no generation parameters, declares nothing."""
    spec = dict(claim=("Adobe_Firefly", "1.0"), signer="cai-prod", org="Adobe Inc.", text=None,
                actions=[{"action": "c2pa.opened"}])
    v = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False)).verdict
    assert v.label == "unknown" and v.how["maker"] == "adobe-firefly"


def test_xmp_credit_line_and_ai_system_name_the_maker(home):
    """No manifest: the IPTC credit line "Made with Google AI", or AISystemUsed, names the maker."""
    from support.metadata_samples import png_bytes

    credit = png_bytes(itxt={"XML:com.adobe.xmp": xmp_packet(**{"photoshop:Credit": "Made with Google AI"})})
    how = verify_bytes(credit, name="x", options=VerifyOptions(forensics=False)).verdict.how
    assert how["maker"] == "google-gemini" and how["source"] == "api"
    system = png_bytes(itxt={"XML:com.adobe.xmp": xmp_packet(**{"Iptc4xmpExt:AISystemUsed": "Midjourney v7"})})
    how = verify_bytes(system, name="x", options=VerifyOptions(forensics=False)).verdict.how
    assert how["vendor"] == "Midjourney"


def test_every_row_is_documented():
    """docs/MAKERS.md has a line for each row of the table."""
    from support import REPO

    doc = (REPO / "docs" / "MAKERS.md").read_text(encoding="utf-8")
    assert all(f"| `{r.id}` |" in doc for r in makers())


def test_own_record_source_wins_over_the_rows(home):
    """A model host's stamp says source api in its record: how and the summary say api, though
    the tool's row (diffusers) is a local tool."""
    chain, key = MakerCA("Host").signer("Host Signer")
    manifest = {"claim_generator_info": [{"name": "provenance", "version": "0.1.0"}], "title": "x",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [created({"name": "diffusers"}, AI)]}},
                               {"label": "org.provenance.generation", "data": {"generator": "diffusers",
                                                                              "source": "api"}}]}
    v = verify_bytes(sign_image(manifest, chain, key), name="x", options=VerifyOptions(forensics=False)).verdict
    assert v.how["maker"] == "diffusers" and v.how["source"] == "api"
    assert v.summary.endswith("Made with Hugging Face diffusers, a cloud service.")


def test_camera_maker_on_an_ai_edit_is_not_called_a_capture(home):
    """A phone maker's credentials declaring an AI edit: AI, and the summary does not say captured."""
    spec = dict(claim=("Samsung Galaxy S25", "1.0"), signer="Samsung Content Signer", org="Samsung", text=None,
                actions=[created(None, COMPOSITE_AI)])
    v = verify_bytes(build(spec), name="x", options=VerifyOptions(forensics=False)).verdict
    assert v.label == "ai-generated" and v.how["maker"] == "samsung-camera"
    assert "Captured" not in v.summary and v.summary.endswith("Its Content Credentials come from a Samsung camera.")
