#!/usr/bin/env python3
"""A real RTSP server on 127.0.0.1 for tests and demos of live input (GStreamer's RTSP server through python3-gi).

Usage:
    python3 scripts/rtsp_server.py --port 0 --mount cam=fixtures/media/moviepy_big_buck_bunny_0_30.webm

Each --mount NAME=FILE serves FILE at rtsp://127.0.0.1:PORT/NAME, re-encoded as H.264 (x264, zero latency, no
B-frames) plus AAC audio (or Opus with --audio opus) when the file has sound, played at real time (the RTSP
server's sinks sync to the pipeline clock); with --passthrough, an MP4's H.264 (+ AAC) is sent as it is. Every client gets its own pipeline from the start of the file, unless
--shared: then all clients share one running pipeline, and a later client joins mid-stream (as with a camera).

Once the server listens it prints one line `READY rtsp://127.0.0.1:<port>/<mount>` per mount on stdout (flushed),
so a test can wait for it and learn the port (--port 0 picks a free one). It binds loopback only and exits on
SIGTERM or SIGINT.

Needs (Debian 12, installed by scripts/install-deps.sh): python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-base, -good, -ugly (x264enc), gstreamer1.0-libav (avenc_aac, H.264 decoding).
If the running interpreter has no `gi` module (e.g. a pyenv python3 shadows Debian's), it re-executes itself with
/usr/bin/python3.
"""

import argparse
import os
import signal
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstPbutils", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstPbutils, GstRtspServer
except (ImportError, ValueError) as e:
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(system_python) \
            and not os.environ.get("AVAD_RTSP_REEXEC"):
        os.environ["AVAD_RTSP_REEXEC"] = "1"
        os.execv(system_python, [system_python] + sys.argv)
    sys.stderr.write(
        f"rtsp_server.py: cannot load GStreamer's RTSP server through python3-gi ({e}); "
        "install the packages with scripts/install-deps.sh\n")
    sys.exit(2)

REQUIRED_ELEMENTS = ["filesrc", "decodebin", "videoconvert", "x264enc", "h264parse", "rtph264pay", "audioconvert",
                     "audioresample", "queue"]
AUDIO_ENCODERS = {
    "aac": ["avenc_aac", "aacparse", "rtpmp4gpay"],
    "opus": ["opusenc", "rtpopuspay"],
}


def has_audio(path):
    """True when GStreamer's discoverer finds an audio stream in `path`."""
    disc = GstPbutils.Discoverer.new(10 * Gst.SECOND)
    info = disc.discover_uri(Gst.filename_to_uri(path))
    return len(info.get_audio_streams()) > 0


def launch_line(path, audio, audio_codec):
    """The gst-launch description of one mount: decode, re-encode, payload as pay0 (video) and pay1 (audio)."""
    loc = path.replace("\\", "\\\\").replace('"', '\\"')
    # Delayed links from decodebin pick the pad whose caps fit the next element (videoconvert: video/x-raw,
    # audioconvert: audio/x-raw).
    video = ("d. ! queue ! videoconvert ! video/x-raw,format=I420 ! "
             "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 ! "
             "h264parse ! rtph264pay name=pay0 pt=96 config-interval=1")
    parts = [f'filesrc location="{loc}" ! decodebin name=d', video]
    if audio:
        if audio_codec == "aac":
            enc = "avenc_aac ! aacparse ! rtpmp4gpay name=pay1 pt=97"
        else:
            enc = "opusenc ! rtpopuspay name=pay1 pt=97"
        parts.append(f"d. ! queue ! audioconvert ! audioresample ! {enc}")
    return "( " + " ".join(parts) + " )"


def passthrough_line(path, audio):
    """An MP4 with H.264 (+ AAC) served as it is (no re-encoding): a client decodes exactly the file's frames."""
    loc = path.replace("\\", "\\\\").replace('"', '\\"')
    parts = [f'filesrc location="{loc}" ! qtdemux name=d',
             "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"]
    if audio:
        parts.append("d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97")
    return "( " + " ".join(parts) + " )"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--mount", action="append", required=True, metavar="NAME=FILE",
                    help="serve FILE at rtsp://127.0.0.1:PORT/NAME (repeatable)")
    ap.add_argument("--shared", action="store_true",
                    help="one pipeline for all clients (a later client joins the running stream mid-way)")
    ap.add_argument("--audio", choices=sorted(AUDIO_ENCODERS), default="aac", help="audio codec (default aac)")
    ap.add_argument("--passthrough", action="store_true",
                    help="serve MP4 files with H.264 (+ AAC) as they are, without re-encoding (a client then "
                         "decodes exactly the file's frames)")
    args = ap.parse_args()

    Gst.init(None)
    missing = [e for e in REQUIRED_ELEMENTS + AUDIO_ENCODERS[args.audio] if Gst.ElementFactory.find(e) is None]
    if missing:
        sys.stderr.write(f"rtsp_server.py: GStreamer elements missing: {', '.join(missing)}; "
                         "install the packages with scripts/install-deps.sh\n")
        return 2

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    names = []
    for m in args.mount:
        name, sep, path = m.partition("=")
        if not sep or not name or not path:
            ap.error(f"--mount wants NAME=FILE, got {m!r}")
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            ap.error(f"no such file: {path}")
        factory = GstRtspServer.RTSPMediaFactory()
        if args.passthrough:
            factory.set_launch(passthrough_line(path, has_audio(path)))
        else:
            factory.set_launch(launch_line(path, has_audio(path), args.audio))
        factory.set_shared(args.shared)
        mounts.add_factory("/" + name, factory)
        names.append(name)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server.py: cannot listen on 127.0.0.1:{args.port}\n")
        return 1
    port = server.get_bound_port()
    for name in names:
        print(f"READY rtsp://127.0.0.1:{port}/{name}", flush=True)

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
