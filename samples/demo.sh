#!/usr/bin/env bash
# The README's main job until `audit` exists: stamp every bundled sample, strip its metadata by
# re-encoding, and show that the watermark and the registry still identify it.
# Writes only under out/demo/ (keys, registry and images of this demo live there).
set -euo pipefail
cd "$(dirname "$0")/.."
PROV=${PROV:-.venv/bin/provenance}
PY=${PY:-.venv/bin/python}
OUT=out/demo
export PROVENANCE_HOME="$OUT/home"
mkdir -p "$OUT"

[ -f "$PROVENANCE_HOME/keys/signing.key" ] || "$PROV" keys init --org "Provenance Demo"
"$PROV" keys show | head -4

for src in samples/*.png samples/*.jpg; do
  name=$(basename "${src%.*}")
  "$PROV" stamp "$src" -o "$OUT/$name.stamped.png" --params samples/params.json --overwrite
  "$PROV" stamp "$src" -o "$OUT/$name.stamped.jpg" --params samples/params.json --overwrite
  # What a platform does on upload: decode and re-encode as JPEG q90, dropping all metadata.
  "$PY" - "$OUT/$name.stamped.png" "$OUT/$name.reencoded.jpg" <<'PYEOF'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], quality=90)
PYEOF
done

echo "--- watermarks (the re-encoded copies carry no metadata and no C2PA manifest)"
"$PROV" watermark detect --method dwtDctSvd "$OUT"/*.stamped.png "$OUT"/*.reencoded.jpg
echo "--- registry"
"$PROV" registry list
"$PROV" watermark detect --json --method dwtDctSvd "$OUT"/*.reencoded.jpg > "$OUT/detect.json"
echo "--- outputs in $OUT (watermark results as JSON: $OUT/detect.json)"
