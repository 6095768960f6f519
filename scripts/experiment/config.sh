# shellcheck shell=bash
# The experiment's settings: scripts/experiment/defaults.conf, then a
# configuration file, then the environment (make's command line). Sourced by
# scripts/pipeline.sh, not run.

CONFIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SETTINGS=()               # every key, in the order of defaults.conf
declare -A FROM_ENV=()    # keys the environment sets: they win over any file

conf_error() {  # FILE LINE MESSAGE
  echo "pipeline.sh: $1:$2: $3" >&2
  exit 2
}

# Strips one pair of surrounding quotes and expands ${KEY} of keys already set.
conf_value() {  # FILE LINE RAW
  local v=$3 ref
  if [[ $v =~ ^\"(.*)\"$ ]] || [[ $v =~ ^\'(.*)\'$ ]]; then v=${BASH_REMATCH[1]}; fi
  while [[ $v =~ \$\{([A-Z][A-Z0-9_]*)\} ]]; do
    ref=${BASH_REMATCH[1]}
    is_setting "$ref" || conf_error "$1" "$2" "\${$ref}: not a setting"
    v=${v//\$\{$ref\}/${!ref}}
  done
  printf '%s' "$v"
}

is_setting() { local k; for k in "${SETTINGS[@]}"; do [ "$k" = "$1" ] && return 0; done; return 1; }

# Reads KEY=VALUE lines. With MODE defaults every key is declared; otherwise a
# key must already be one.
read_conf() {  # FILE MODE
  local file=$1 mode=$2 n=0 line key value inc
  [ -f "$file" ] || { echo "pipeline.sh: $file: configuration file not found" >&2; exit 2; }
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ $line =~ ^include[[:space:]]+(.+)$ ]]; then
      inc=${BASH_REMATCH[1]}
      [[ $inc = /* ]] || inc=$(dirname "$file")/$inc
      [ -f "$inc" ] || conf_error "$file" "$n" "included file '$inc' not found"
      read_conf "$inc" "$mode"
      continue
    fi
    [[ $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || conf_error "$file" "$n" "expected KEY=VALUE, 'include FILE' or a # comment"
    key=${BASH_REMATCH[1]}
    value=$(conf_value "$file" "$n" "${BASH_REMATCH[2]}")
    if [ "$mode" = defaults ]; then
      is_setting "$key" || SETTINGS+=("$key")
    elif ! is_setting "$key"; then
      conf_error "$file" "$n" "unknown setting $key (scripts/experiment/defaults.conf lists them)"
    fi
    if [ -n "${FROM_ENV[$key]+x}" ]; then printf -v "$key" '%s' "${FROM_ENV[$key]}"; else printf -v "$key" '%s' "$value"; fi
  done < "$file"
}

# Loads defaults, CONFIG_FILE (may be empty) and the environment's overrides.
load_settings() {  # CONFIG_FILE
  local key
  # The keys are known only once defaults.conf is read; note the environment's first.
  while IFS= read -r key; do
    [ -n "${!key+x}" ] && FROM_ENV[$key]=${!key}
  done < <(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$CONFIG_DIR/defaults.conf")
  read_conf "$CONFIG_DIR/defaults.conf" defaults
  [ -z "$1" ] || read_conf "$1" config
}

# The resolved settings, one KEY='value' line each (sourced by every stage).
print_settings() {  # CONFIG_FILE
  echo "# The resolved settings of this experiment: scripts/experiment/defaults.conf,"
  echo "# then the configuration file, then the environment."
  echo "# config file: ${1:-}"
  local key
  for key in "${SETTINGS[@]}"; do printf '%s=%q\n' "$key" "${!key}"; done
}

# The same as JSON (for the report).
print_settings_json() {  # CONFIG_FILE
  local key first=1
  printf '{"format": "wsss-experiment-config", "version": 1, "config": "%s", "settings": {' "$(json_escape "${1:-}")"
  for key in "${SETTINGS[@]}"; do
    [ $first = 1 ] || printf ', '
    first=0
    printf '"%s": "%s"' "$key" "$(json_escape "${!key}")"
  done
  printf '}}\n'
}

json_escape() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '%s' "$s"; }
