#!/usr/bin/env bash
# A fake sound card for the audio tests on machines without one (CI, servers): a PulseAudio
# server with a null sink as the default speaker and its monitor as the default microphone, so
# what the kiosk plays is what it records. cpal reaches it through ALSA's PulseAudio plugin.
# Idempotent: an already running server is reused. Not needed (nor wanted) on a real kiosk.
set -euo pipefail

if ! command -v pulseaudio >/dev/null || ! command -v pactl >/dev/null; then
  echo "audio-loopback: pulseaudio/pactl missing; run deploy/setup.sh first" >&2
  exit 1
fi

if ! pactl info >/dev/null 2>&1; then
  # As root (CI containers) PulseAudio warns that it is meant for users; it works all the same.
  pulseaudio -D --exit-idle-time=-1 --log-target=syslog 2>/dev/null || pulseaudio -D --exit-idle-time=-1
  for _ in $(seq 50); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
pactl info >/dev/null 2>&1 || { echo "audio-loopback: PulseAudio did not start" >&2; exit 1; }

if ! pactl list short sinks | grep -q '^[0-9]*[[:space:]]vsink[[:space:]]'; then
  pactl load-module module-null-sink sink_name=vsink >/dev/null
fi
pactl set-default-sink vsink
pactl set-default-source vsink.monitor
echo "audio-loopback: PulseAudio null sink 'vsink' is the default speaker, its monitor the microphone"
