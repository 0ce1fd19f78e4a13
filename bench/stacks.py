"""Top frames of a py-spy collapsed-stack file (`py-spy record --format raw`).

    python bench/stacks.py STACKS.txt [--top 15] [--drop REGEX]

Prints, as shares of the busy samples (py-spy leaves idle samples out): the frames where
the time is spent (self), and the frames under which it is spent (inclusive, each frame
counted once per sample). Frames are `function (file)`, with site-packages paths cut short.
`--drop` leaves out samples with a frame matching REGEX (e.g. the viewers' disconnects at
the end of a fanout run), and says how many.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return f"{m['func']} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--drop", type=re.compile, help="leave out stacks with a matching frame")
    args = parser.parse_args()
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = dropped = 0
    for line in args.stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [short(f) for f in stack.split(";")]
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if args.drop and any(args.drop.search(f) for f in frames):
            dropped += n
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            under[frame] += n
    print(f"{total} busy samples" + (f" ({dropped} dropped by --drop)" if args.drop else ""))
    for title, counter in (("self", own), ("inclusive", under)):
        print(f"\n| {title} | share |\n|---|---|")
        for frame, n in counter.most_common(args.top):
            print(f"| `{frame}` | {100 * n / max(total, 1):.1f}% |")


if __name__ == "__main__":
    main()
