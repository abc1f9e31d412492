# bash completion for hsmctl (installed as /usr/share/bash-completion/completions/hsmctl).
#
# Subcommands and flags are read from the binary's own --help output (`hsmctl --help`,
# `hsmctl COMMAND --help`: the same text the man pages are generated from), so this file lists
# none of them. Values: manifest files (*.yaml, *.yml, directories) after -f/--file; device
# URIs after -d/--device (sim:PATH, pcsc:, pcsc:<reader> with the readers `hsmctl devices -o json`
# lists, each also after NAME=); files after --store and the --*-file options.
# Self-contained: needs neither the bash-completion package's helpers nor jq.

# The command table of `hsmctl --help`.
_hsmctl_commands() {
  "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  *.*/\1/p'
}

# The long options of `hsmctl --help` (no command) or `hsmctl COMMAND --help`: lines such as
# "  -f [ --file ] arg", "  --probe", "  -v, --verbose".
_hsmctl_flags() {
  "$@" --help 2>/dev/null |
    sed -n 's/^  \(-[a-zA-Z],\{0,1\} \(\[ \)\{0,1\}\)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\3/p'
}

# The sub-commands of `hsmctl store` / `hsmctl dkek` (their --help's "commands:" section).
_hsmctl_verbs() {
  "$1" "$2" --help 2>/dev/null | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\).*/\1/p'
}

# Reader names from `hsmctl devices -o json` (nothing when pcscd is not running).
_hsmctl_readers() {
  timeout 3 "$1" devices -o json 2>/dev/null |
    sed -n 's/^ *"reader": "\(\([^"\\]\|\\.\)*\)",\{0,1\}$/\1/p' | sed 's/\\\(.\)/\1/g'
}

# Appends to COMPREPLY every candidate (one a line on stdin) that starts with $1.
_hsmctl_add() {
  local c
  while IFS= read -r c; do
    [[ -n $c && $c == "$1"* ]] && COMPREPLY+=("$c")
  done
}

# Files and directories starting with $1 (directories get a trailing slash); with $2 = yaml,
# only *.yaml and *.yml files.
_hsmctl_files() {
  local f
  while IFS= read -r f; do
    if [[ -d $f ]]; then
      printf '%s/\n' "$f"
    elif [[ $2 != yaml || $f == *.yaml || $f == *.yml ]]; then
      printf '%s\n' "$f"
    fi
  done < <(compgen -f -- "$1")
}

_hsmctl_device_values() {  # $1: the hsmctl binary, $2: the value typed so far
  local val=$2 name=""
  # NAME=URI: the name is what comes before the first '=' when it holds no ':'.
  if [[ $val == *=* && ${val%%=*} != *:* ]]; then
    name=${val%%=*}=
    val=${val#*=}
  fi
  if [[ $val == sim:* ]]; then
    _hsmctl_files "${val#sim:}" | sed "s|^|${name}sim:|"
    return
  fi
  printf '%s\n' "${name}sim:" "${name}pcsc:"
  if [[ $val == pcsc:* ]]; then
    local r
    while IFS= read -r r; do printf '%s\n' "${name}pcsc:$r"; done < <(_hsmctl_readers "$1")
  fi
}

_hsmctl() {
  local line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
  local -a words
  read -r -a words <<<"$line"
  local cur=""
  if [[ ${#words[@]} -gt 1 && $line != *[[:space:]] ]]; then
    cur=${words[-1]}
    unset 'words[-1]'
  fi
  local bin=${words[0]:-hsmctl} prev=${words[-1]:-}
  bin=${bin/#\~/$HOME}
  command -v "$bin" >/dev/null 2>&1 || bin=hsmctl

  # The command: the first word that is neither a global option nor --store's value.
  local cmd="" i
  for ((i = 1; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      --store) ((i++)) ;;
      -*) ;;
      *) cmd=${words[i]} && break ;;
    esac
  done

  # The option whose value is being typed: "--opt=VALUE" or "--opt VALUE".
  local opt="" val=$cur prefix=""
  if [[ $cur == --*=* ]]; then
    opt=${cur%%=*}
    val=${cur#*=}
    prefix=$opt=
  else
    opt=$prev
  fi

  COMPREPLY=()
  local nospace=""
  case $opt in
    -f | --file)
      [[ -n $cmd ]] && _hsmctl_add "$prefix$val" < <(_hsmctl_files "$val" yaml | sed "s|^|$prefix|")
      nospace=1
      ;;
    -d | --device)
      [[ -n $cmd ]] && _hsmctl_add "$prefix$val" < <(_hsmctl_device_values "$bin" "$val" |
        sed "s|^|$prefix|")
      nospace=1
      ;;
    -o | --output)
      if [[ $cmd == devices ]]; then
        _hsmctl_add "$prefix$val" < <(printf '%s\n' "${prefix}table" "${prefix}json")
      else
        _hsmctl_add "$prefix$val" < <(printf '%s\n' "${prefix}text" "${prefix}json")
      fi
      ;;
    --store | --*-file | --ppin)
      _hsmctl_add "$prefix$val" < <(_hsmctl_files "$val" | sed "s|^|$prefix|")
      nospace=1
      ;;
    *) opt="" ;;
  esac

  if [[ -z $opt || ( $cur != --*=* && -z ${COMPREPLY[*]} && $cur == -* ) ]]; then
    if [[ -z $cmd ]]; then
      if [[ $cur == -* ]]; then
        _hsmctl_add "$cur" < <(_hsmctl_flags "$bin")
      else
        _hsmctl_add "$cur" < <(_hsmctl_commands "$bin")
      fi
    elif [[ $cur == -* ]]; then
      _hsmctl_add "$cur" < <(_hsmctl_flags "$bin" "$cmd")
    elif [[ ($cmd == store || $cmd == dkek) && $prev == "$cmd" ]]; then
      _hsmctl_add "$cur" < <(_hsmctl_verbs "$bin" "$cmd")
    fi
  fi

  # Directories and URI prefixes ("pcsc:", "sim:", "NAME=") are completed further: no space.
  if [[ ${#COMPREPLY[@]} -eq 1 && -n $nospace && ${COMPREPLY[0]} == */ ||
    ${#COMPREPLY[@]} -eq 1 && -n $nospace && ${COMPREPLY[0]} == *: ]]; then
    compopt -o nospace 2>/dev/null
  fi

  # Bash replaces only the part of the word after the last COMP_WORDBREAKS character (':' and
  # '=' by default): drop what precedes it from the candidates, and quote spaces.
  local k strip=""
  for ((k = ${#cur} - 1; k >= 0; k--)); do
    if [[ ${cur:k:1} != [[:space:]] && $COMP_WORDBREAKS == *"${cur:k:1}"* ]]; then
      strip=${cur:0:k+1}
      break
    fi
  done
  local -a out=()
  for i in "${!COMPREPLY[@]}"; do
    local c=${COMPREPLY[i]#"$strip"}
    if [[ -n $c ]]; then out+=("${c// /\\ }"); fi
  done
  COMPREPLY=("${out[@]}")
}

complete -F _hsmctl hsmctl
