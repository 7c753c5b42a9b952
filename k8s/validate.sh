#!/usr/bin/env bash
# Renders every overlay in k8s/overlays and validates the result without a cluster:
#
#   1. schema  kubernetes-validate --strict: every object against the Kubernetes OpenAPI schemas
#              of the oldest and the newest version we support (unknown fields are errors);
#              an object of a custom kind (cert-manager's Certificate, ...) against its schema in
#              k8s/schemas/ instead, and an object of a kind with neither schema fails;
#   2. policy  checkov's Kubernetes checks: security context, probes, resources, service accounts,
#              network policy coverage, ...; and its Dockerfile checks on ./Dockerfile.
#
# The tools come from PyPI, pinned in k8s/requirements.txt, into a virtualenv at .venv-k8s/
# (created on the first run, reused while requirements.txt is unchanged). Nothing else touches
# the network. Exits non-zero on any failure. Rendered manifests are kept in .venv-k8s/rendered/.
#
#   k8s/validate.sh                # all overlays
#   k8s/validate.sh dev prod       # some
#
# Environment: PYTHON (default python3, 3.11 or newer), BATON_K8S_VENV (default .venv-k8s).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${BATON_K8S_VENV:-$root/.venv-k8s}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
# Schemas of the custom kinds: <group>/<version>/<kind in lower case>.yaml (see its README.md).
schemas="$here/schemas"

# The oldest Kubernetes we support and the newest the schema package knows. The manifests need
# 1.27 (native gRPC probes, matchLabelKeys, unhealthyPodEvictionPolicy); 1.30 is the floor we
# promise.
k8s_versions=(1.30.0 1.37.0)

# Checks skipped everywhere; a skip that concerns one object is an annotation on that object
# (checkov.io/skipN) with its reason next to it.
skipped_checks=(
  # "Image should use digest": images are pinned by release tag. A digest only exists once the
  # image is pushed; set it at release with `kustomize edit set image baton=...@sha256:...`.
  # For Redis, the collector and Jaeger, a digest copied from a registry we cannot reach from
  # here could not be verified.
  CKV_K8S_43
  # "Image Pull Policy should be Always": IfNotPresent with immutable tags. Always would make
  # every pod start depend on the registry, and breaks images loaded into kind or minikube.
  CKV_K8S_15
)

started=$SECONDS
say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
if command -v kubectl >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
else
  die "kubectl (or kustomize) is needed to render the overlays"
fi

command -v "$python" >/dev/null 2>&1 || die "$python not found (set PYTHON)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$python is older than 3.11, which the pinned validators need (set PYTHON)"

# The virtualenv is reused while it was built from this very requirements.txt by this Python.
stamp="$("$python" - "$requirements" <<'EOF'
import hashlib, sys
with open(sys.argv[1], "rb") as f:
    print(sys.version.split()[0], hashlib.sha256(f.read()).hexdigest())
EOF
)"
if [[ ! -x "$venv/bin/checkov" || ! -x "$venv/bin/kubernetes-validate" \
      || "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]]; then
  say "installing validators into ${venv#"$root"/} (once)"
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$requirements"
  printf '%s\n' "$stamp" > "$venv/.installed"
fi

# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
if (($# > 0)); then
  overlays=("$@")
else
  overlays=()
  for dir in "$here"/overlays/*; do [[ -d $dir ]] && overlays+=("$(basename "$dir")"); done
fi
for overlay in "${overlays[@]}"; do
  [[ -f "$here/overlays/$overlay/kustomization.yaml" ]] \
    || die "no overlay $overlay in ${here#"$root"/}/overlays"
done

skip_arg="$(IFS=,; echo "${skipped_checks[*]}")"
rendered="$venv/rendered"
declare -A summary
failed=0
# kubernetes-validate's warning for a kind it has no schema for; captures the kind and apiVersion.
missing_schema="Couldn't find schema for kind ([A-Za-z0-9]+) with api version ([^ ]+) for"

# summarise_checkov REPORT: prints the failed and skipped checks and one summary line; exits
# non-zero when a check failed, or when checkov saw nothing to check or did not finish.
summarise_checkov() {
  "$venv/bin/python" - "$1" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        reports = json.load(f)
except ValueError:
    with open(sys.argv[1] + ".log") as f:
        print(f.read().strip()[-2000:])
    print("no report: checkov did not finish")
    sys.exit(1)
reports = reports if isinstance(reports, list) else [reports]
passed = failed = skipped = resources = errors = 0
for report in reports:
    if "results" not in report:
        continue
    s = report["summary"]
    passed += s["passed"]; failed += s["failed"]; skipped += s["skipped"]
    resources += s["resource_count"]; errors += s["parsing_errors"]
    for c in report["results"]["failed_checks"]:
        print("FAILED", c["check_id"], c["check_name"] + ":", c["resource"], c["file_line_range"])
    for c in report["results"]["skipped_checks"]:
        reason = c.get("check_result", {}).get("suppress_comment", "")
        print("skipped", c["check_id"], "on", c["resource"] + ":", reason)
print(passed, "passed,", failed, "failed,", skipped, "skipped;", resources, "resources,",
      errors, "parse errors")
sys.exit(1 if failed or errors or resources == 0 else 0)
EOF
}

# check_custom_kinds MANIFEST OVERLAY: validates every object whose kind has a schema in
# $schemas against it, strictly (the schemas forbid unknown fields), prints an ERROR line per
# problem and then one summary line; exits non-zero when an object does not validate.
check_custom_kinds() {
  "$venv/bin/python" - "$1" "$2" "$schemas" <<'EOF'
import pathlib, sys
import yaml
from jsonschema import Draft202012Validator
manifest, overlay, schemas = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
with open(manifest) as f:
    objects = [o for o in yaml.safe_load_all(f) if o]
validators, checked, errors = {}, {}, 0
for o in objects:
    api, kind = o.get("apiVersion", ""), o.get("kind", "")
    path = schemas / api / (kind.lower() + ".yaml")
    if not path.is_file():
        continue
    if path not in validators:
        with open(path) as f:
            schema = yaml.safe_load(f)
        Draft202012Validator.check_schema(schema)
        validators[path] = Draft202012Validator(schema)
    name = (o.get("metadata") or {}).get("name", "?")
    for e in sorted(validators[path].iter_errors(o), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in e.absolute_path) or "(object)"
        print(f"ERROR {overlay} {kind}/{name} {where}: {e.message}")
        errors += 1
    checked[api] = checked.get(api, 0) + 1
print("custom kinds:", ", ".join(f"{n} {api}" for api, n in sorted(checked.items())) or "none")
sys.exit(1 if errors else 0)
EOF
}

# run_checkov REPORT ARGS...: checkov's JSON report to REPORT, its log to REPORT.log. It exits
# non-zero when a check fails; summarise_checkov judges the report instead.
run_checkov() {
  local report="$1"
  shift
  # --skip-download: use the checks bundled in the package and never call home.
  "$venv/bin/checkov" --skip-download --skip-check "$skip_arg" --output json "$@" \
    > "$report" 2> "$report.log" || true
}

mkdir -p "$rendered"

# Render every overlay first and start checkov on each at once in the background: checkov is
# the slow part (seconds of start-up per run), and the schema checks run meanwhile.
declare -A checkov_pid
for overlay in "${overlays[@]}"; do
  out="$rendered/$overlay"
  rm -rf "$out"
  mkdir -p "$out"
  if render "$here/overlays/$overlay" > "$out/manifest.yaml" 2> "$out/render.log"; then
    run_checkov "$out/checkov.json" --framework kubernetes --file "$out/manifest.yaml" &
    checkov_pid[$overlay]=$!
  fi
done
(cd "$root" && run_checkov "$rendered/dockerfile.json" --framework dockerfile --file Dockerfile) &
dockerfile_pid=$!

# One kubernetes-validate run per Kubernetes version over all the manifests (its start-up costs
# more than the checks); each ERROR line names the manifest it is about.
manifests=()
for overlay in "${!checkov_pid[@]}"; do manifests+=("$rendered/$overlay/manifest.yaml"); done
schema_crashed=0
for version in "${k8s_versions[@]}"; do
  log="$rendered/schema-$version.log"
  : > "$log"
  ((${#manifests[@]} > 0)) || continue
  if ! "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}" \
      > "$log" 2>&1 && ! grep -q '^ERROR' "$log"; then
    # Failed without saying which object: show everything, fail everything.
    sed 's/^/    /' "$log"
    schema_crashed=1
  fi
done

for overlay in "${overlays[@]}"; do
  out="$rendered/$overlay"
  manifest="$out/manifest.yaml"
  say ""
  say "==> $overlay"

  if [[ -z ${checkov_pid[$overlay]:-} ]]; then
    sed 's/^/    /' "$out/render.log"
    say "    render   FAILED"
    summary[$overlay]="FAILED  (render)"
    failed=1
    continue
  fi
  count="$(grep -c '^kind:' "$manifest" || true)"
  say "    render   ok      $count objects"

  schema="ok"
  ((schema_crashed == 0)) || schema="FAILED"
  for version in "${k8s_versions[@]}"; do
    log="$rendered/schema-$version.log"
    if grep -F -- "$manifest" "$log" | grep '^ERROR' | sed "s|$manifest|$overlay|; s/^/    /"; then
      schema="FAILED"
    fi
    # kubernetes-validate only warns about an object it has no schema for (and about anything
    # else it cannot judge), and exits 0. Here a warning fails, but for a kind that has a schema
    # in $schemas: check_custom_kinds validates those objects.
    while IFS= read -r line; do
      if [[ $line =~ $missing_schema ]] \
          && [[ -f "$schemas/${BASH_REMATCH[2]}/${BASH_REMATCH[1],,}.yaml" ]]; then
        continue
      fi
      say "    ${line//"$manifest"/$overlay}"
      schema="FAILED"
    done < <(grep -F -- "$manifest" "$log" | grep '^WARN' || true)
  done
  if custom="$(check_custom_kinds "$manifest" "$overlay")"; then :; else schema="FAILED"; fi
  sed -n '$!s/^/    /p' <<< "$custom"
  say "    schema   $schema      Kubernetes ${k8s_versions[*]}, strict; $(tail -n 1 <<< "$custom")"

  wait "${checkov_pid[$overlay]}"
  if verdict="$(summarise_checkov "$out/checkov.json")"; then policy="ok"; else policy="FAILED"; fi
  sed -n '$!s/^/    /p' <<< "$verdict"
  say "    policy   $policy      checkov: $(tail -n 1 <<< "$verdict")"

  status="ok"
  [[ $schema == ok && $policy == ok ]] || { status="FAILED"; failed=1; }
  summary[$overlay]="$status  ($count objects; schema $schema; policy $policy)"
done

say ""
say "==> Dockerfile"
wait "$dockerfile_pid"
if verdict="$(summarise_checkov "$rendered/dockerfile.json")"; then
  dockerfile="ok"
else
  dockerfile="FAILED"
  failed=1
fi
sed -n '$!s/^/    /p' <<< "$verdict"
say "    policy   $dockerfile      checkov: $(tail -n 1 <<< "$verdict")"

say ""
say "summary ($((SECONDS - started))s; global skips: ${skipped_checks[*]}, see k8s/validate.sh)"
for overlay in "${overlays[@]}"; do
  printf '  %-18s %s\n' "$overlay" "${summary[$overlay]}"
done
printf '  %-18s %s\n' "Dockerfile" "$dockerfile"
exit "$failed"
