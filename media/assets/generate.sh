#!/usr/bin/env bash
# Regenerates Ringside's default audio assets (see README.md in this directory).
#
# Requires espeak-ng and sox. Output: 16-bit mono PCM WAV files next to this script.
# Everything is synthesised from scratch, so the result is ours to license (AGPL-3.0-or-later).
set -euo pipefail

cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# sox without dither (-D) so that regeneration is deterministic.
SOX=(sox -D -V1)

# Applies a gain so the file's RMS level becomes $3 dBFS, with a limiter guarding the peaks.
normalize_rms() {
    local in="$1" out="$2" target="$3"
    local rms
    rms="$("${SOX[@]}" "$in" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}')"
    local gain
    gain="$(awk -v t="$target" -v r="$rms" 'BEGIN {printf "%.2f", t - r}')"
    "${SOX[@]}" "$in" "$out" gain -l "$gain"
}

# Speech prompt: espeak-ng (US English voice), band-limited to telephony-friendly 16 kHz,
# 100 Hz high-pass, 0.3 s of lead-in and 0.5 s of tail silence, about -16 dBFS RMS (speech
# segments only; pauses pull the overall figure a little lower).
speak() {
    local out="$1" text="$2"
    espeak-ng -v en-us -s 150 -p 45 -w "$tmp/raw.wav" "$text"
    "${SOX[@]}" "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$tmp/speech.wav" \
        highpass 100 rate -v 16000 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
    normalize_rms "$tmp/speech.wav" "$tmp/norm.wav" -16
    "${SOX[@]}" "$tmp/norm.wav" -b 16 "$out" pad 0.3 0.5
}

speak unavailable.wav \
    "No one is available to take your call right now. Please try again later."
speak accept_prompt.wav \
    "You have a call from the website. Press 1 to accept this call."

# Hold music: a I-vi-IV-V progression in C major (C, Am, F, G), 3 s per chord, each chord an
# arpeggio of plucked strings over a soft sine pad. 12 s in total; every chord dies away and
# the whole loop fades in and out over a few milliseconds, so looping it is click-free.
chord() {
    local out="$1" bass="$2" n1="$3" n2="$4" n3="$5"
    # Four plucked notes, staggered as an arpeggio.
    "${SOX[@]}" -n -r 8000 -c 4 "$tmp/pluck.wav" \
        synth 3 pluck "$bass" pluck "$n1" pluck "$n2" pluck "$n3" \
        delay 0 0.35 0.7 1.05 remix - trim 0 3
    # A quiet sustained pad of the same triad, faded in and out.
    "${SOX[@]}" -n -r 8000 -c 3 "$tmp/pad.wav" \
        synth 3 sine "$n1" sine "$n2" sine "$n3" remix - fade h 0.6 3 1.2 gain -14
    "${SOX[@]}" -m "$tmp/pluck.wav" "$tmp/pad.wav" "$out"
}
chord "$tmp/c1.wav" C3 E4 G4 C5
chord "$tmp/c2.wav" A2 C4 E4 A4
chord "$tmp/c3.wav" F2 A4 C5 F5
chord "$tmp/c4.wav" G2 B3 D4 G4
"${SOX[@]}" "$tmp/c1.wav" "$tmp/c2.wav" "$tmp/c3.wav" "$tmp/c4.wav" "$tmp/music.wav" \
    highpass 60 fade t 0.005 -0 0.25
normalize_rms "$tmp/music.wav" "$tmp/music_norm.wav" -20
"${SOX[@]}" "$tmp/music_norm.wav" -r 8000 -c 1 -b 16 hold_music.wav

for f in unavailable.wav accept_prompt.wav hold_music.wav; do
    printf '%-18s %7d bytes  ' "$f" "$(stat -c %s "$f")"
    "${SOX[@]}" "$f" -n stats 2>&1 | awk '/^(RMS lev dB|Pk lev dB|Length s)/ {printf "%s %s %s  ", $1, $2, $NF} END {print ""}'
done

# Ringtone (what a website visitor hears while the call rings, when a widget or tenant uploads
# none Ringside generates the same cadence itself): one US ringback cycle, 440 + 480 Hz for 2 s
# then 4 s of silence, played in a loop.
"${SOX[@]}" -n -r 16000 -c 1 -b 16 "$tmp/rt.wav" synth 2 sine 440 sine 480 remix 1-2
"${SOX[@]}" "$tmp/rt.wav" "$tmp/rt_norm.wav" gain -n -13
"${SOX[@]}" "$tmp/rt_norm.wav" ringtone.wav pad 0 4
