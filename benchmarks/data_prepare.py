"""How long `data prepare` takes on files of the public releases' size (35,887 rows), generated here.

    python benchmarks/data_prepare.py [--rows 35887] [--work DIR]

The two files are written in the public layouts (fer2013new.csv; fer2013.csv in a fer2013.tar.gz) with random
pixels and votes, then ``prepare ferplus`` and ``prepare fer2013`` each write a .tar.gz. One run; wall seconds on
this machine (random pixels compress worse than faces, so the archives are larger than the real ones).
"""
import argparse
import csv
import io
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from lanmsff_edge.data.prepare import PUBLIC_ROWS, prepare

HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
          "contempt", "unknown", "NF"]


def write_downloads(folder, rows):
    rng = np.random.default_rng(0)
    usages = [usage for usage, count in PUBLIC_ROWS.items() for _ in range(count)][:rows]
    pixels, labels = io.StringIO(), io.StringIO()
    pixel_writer, label_writer = csv.writer(pixels, lineterminator="\n"), csv.writer(labels, lineterminator="\n")
    pixel_writer.writerow(["emotion", "pixels", "Usage"])
    label_writer.writerow(HEADER)
    for row, usage in enumerate(usages):
        pixel_writer.writerow([row % 7, " ".join(map(str, rng.integers(0, 256, 2304))), usage])
        votes = rng.multinomial(10, [0.5] + [0.05] * 9)
        label_writer.writerow([usage, f"fer{row:07d}.png" if row % 200 else "", *votes])
    (folder / "fer2013new.csv").write_text(labels.getvalue())
    data = pixels.getvalue().encode()
    with tarfile.open(folder / "fer2013.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("fer2013/fer2013.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=sum(PUBLIC_ROWS.values()))
    parser.add_argument("--work", help="folder for the files (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        work = Path(work)
        downloads = work / "downloads"
        downloads.mkdir()
        write_downloads(downloads, args.rows)
        for dataset, out in (("ferplus", "ferplus.tar.gz"), ("fer2013", "fer2013_csv.tar.gz")):
            start = time.perf_counter()
            report = prepare(dataset, downloads, work / out)
            print(f"prepare {dataset}: {report['rows']:,} rows in {time.perf_counter() - start:.0f} s, "
                  f"{(work / out).stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
