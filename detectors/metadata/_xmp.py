"""A hardened, streaming XMP reader.

XMP is RDF/XML from the file, i.e. from whoever made the file. We parse it with expat directly and
refuse any DOCTYPE outright: XMP never needs one, and without a DTD there are no entities to expand
(billion laughs) and no external entities to fetch (XXE). Nothing is built as a tree and nothing
recurses, so deep nesting costs memory proportional to the (capped) input and no stack.
"""
from __future__ import annotations

from xml.parsers import expat

from ._values import MAX_VALUE_CHARS

#: Largest XMP packet we parse; bigger ones are reported and skipped.
MAX_XMP_BYTES = 4 * 1024 * 1024
#: Most properties kept from one packet.
MAX_PROPERTIES = 4096

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_LANG = "http://www.w3.org/XML/1998/namespace lang"

#: Usual prefixes, so that a packet using an odd prefix for a known namespace reads the same.
KNOWN_NAMESPACES = {
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
    "https://github.com/provenance-tool/ns/1.0/": "provenance",
}


class _Refused(Exception):
    """The packet uses a feature we never process (DOCTYPE, entity declarations)."""


def _refuse_doctype(*_args) -> None:
    raise _Refused("has a DOCTYPE (refused: XMP needs none, and it could declare entities)")


def _refuse_entity(*_args) -> None:
    raise _Refused("declares entities (refused)")


class _Collector:
    """Expat callbacks that flatten rdf:Description properties into {"prefix:Name": value}."""

    def __init__(self) -> None:
        self.props: dict[str, str | list[str]] = {}
        self.depth = 0
        self.description_depths: list[int] = []
        self.prop_name: str | None = None
        self.prop_depth = 0
        self.prop_text: list[str] = []
        self.prop_size = 0
        self.items: list[tuple[str | None, str]] = []
        self.li_depth = 0
        self.li_lang: str | None = None
        self.li_text: list[str] = []
        self.container = ""
        self.truncated = False

    @staticmethod
    def _qualify(name: str) -> tuple[str, str]:
        """(namespace URI, "prefix:Local") from expat's "uri local prefix" name."""
        parts = name.split(" ")
        if len(parts) == 1:
            return "", parts[0]
        uri, local = parts[0], parts[1]
        prefix = KNOWN_NAMESPACES.get(uri) or (parts[2] if len(parts) > 2 else uri)
        return uri, f"{prefix}:{local}"

    def _store(self, name: str, value: str | list[str]) -> None:
        if len(self.props) >= MAX_PROPERTIES and name not in self.props:
            self.truncated = True
            return
        self.props.setdefault(name, value)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        uri, qname = self._qualify(name)
        if self.prop_name is None:
            if uri == RDF_NS and qname.endswith(":Description"):
                self.description_depths.append(self.depth)
                for attr_name, attr_value in attrs.items():
                    attr_uri, attr_q = self._qualify(attr_name)
                    if attr_uri not in (RDF_NS, "") and not attr_name.startswith("http://www.w3.org/XML/"):
                        self._store(attr_q, attr_value[:MAX_VALUE_CHARS])
            elif self.description_depths and self.depth == self.description_depths[-1] + 1 and uri != RDF_NS:
                self.prop_name, self.prop_depth = qname, self.depth
                self.prop_text, self.prop_size, self.items, self.container = [], 0, [], ""
                resource = next((v for k, v in attrs.items()
                                 if k.startswith(RDF_NS) and k.split(" ")[1] == "resource"), None)
                if resource:
                    self.prop_text.append(resource[:MAX_VALUE_CHARS])
                    self.prop_size = len(self.prop_text[0])
            return
        if uri == RDF_NS:
            local = qname.split(":", 1)[1]
            if local in ("Alt", "Seq", "Bag") and not self.container:
                self.container = local
            elif local == "li" and not self.li_depth:
                self.li_depth = self.depth
                self.li_lang = next((v for k, v in attrs.items() if k.startswith(XML_LANG)), None)
                self.li_text = []

    def end(self, name: str) -> None:
        if self.prop_name is not None:
            if self.li_depth and self.depth == self.li_depth:
                self.items.append((self.li_lang, "".join(self.li_text).strip()))
                self.li_depth = 0
            elif self.depth == self.prop_depth:
                if self.items:
                    value: str | list[str]
                    if self.container == "Alt":
                        default = [t for lang, t in self.items if lang == "x-default"]
                        value = default[0] if default else self.items[0][1]
                    else:
                        value = [t for _lang, t in self.items]
                else:
                    value = "".join(self.prop_text).strip()
                self._store(self.prop_name, value)
                self.prop_name = None
        elif self.description_depths and self.depth == self.description_depths[-1]:
            self.description_depths.pop()
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.prop_name is None or self.prop_size >= MAX_VALUE_CHARS:
            return
        data = data[: MAX_VALUE_CHARS - self.prop_size]
        self.prop_size += len(data)
        (self.li_text if self.li_depth else self.prop_text).append(data)


def parse_xmp(packet: str | bytes, *, errors: list[str], where: str = "xmp") -> dict[str, str | list[str]]:
    """Properties of every rdf:Description as {"prefix:Name": text or list of texts}.

    Lang-alternatives (rdf:Alt) give their x-default text; Seq and Bag give lists. A malformed or
    refused packet is an ``errors`` entry; properties read before the fault are still returned.
    """
    data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    if len(data) > MAX_XMP_BYTES:
        errors.append(f"{where}: XMP packet is {len(data):,} bytes, over the {MAX_XMP_BYTES:,}-byte limit; ignored")
        return {}
    start = data.find(b"<")
    if start < 0:
        errors.append(f"{where}: XMP packet holds no XML")
        return {}
    data = data[start:].rstrip(b"\x00 \t\r\n")
    collector = _Collector()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = lambda *_a: 0  # never fetch anything
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.text
    try:
        parser.Parse(data, True)
    except _Refused as e:
        errors.append(f"{where}: XMP {e}")
        return {}
    except expat.ExpatError as e:
        errors.append(f"{where}: malformed XMP ({expat.ErrorString(e.code)} at line {e.lineno}); "
                      "properties before the fault are kept")
    if collector.truncated:
        errors.append(f"{where}: XMP has more than {MAX_PROPERTIES} properties; the rest were ignored")
    return collector.props
