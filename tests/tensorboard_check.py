#!/usr/bin/env python3
"""Loads an event file written by rflow's TensorBoardWriter with the real tensorboard package.

Usage: tensorboard_check.py <path to test_tensorboard>
Runs the test binary's fixture case (RFLOW_TENSORBOARD_CHECK_DIR) into a temporary directory, reads
it back with tensorboard's EventAccumulator (which checks the record CRCs) and compares scalars,
images and text with what the fixture wrote. Optional: where `import tensorboard` fails it prints a
skip line and exits 0; tensorboard is never a build or test dependency of rflow.
"""
import os
import subprocess
import sys
import tempfile

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except Exception as e:  # not installed, or broken
    print(f"SKIP tensorboard_check: cannot import tensorboard ({e.__class__.__name__}: {e})")
    sys.exit(0)

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_info(data):
    """(width, height, colour type) from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIG and data[12:16] == b"IHDR", "not a PNG starting with IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[25]


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="rflow_tb_") as d:
        env = dict(os.environ, RFLOW_TENSORBOARD_CHECK_DIR=d)
        run = subprocess.run([sys.argv[1], "--test-case=*tensorboard_check.py*", "--success=false"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            print(run.stdout)
            print("FAIL the test binary could not write the event file")
            return 1
        files = os.listdir(d)
        check(len(files) == 1 and files[0].startswith("events.out.tfevents."), f"one event file: {files}")

        ea = EventAccumulator(d, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
        ea.Reload()
        tags = ea.Tags()
        print("Tags:", tags)
        check(ea.file_version == 2.0, f"file_version {ea.file_version}")

        loss = ea.Scalars("loss")
        print("Scalars('loss'):", loss)
        check([e.step for e in loss] == [0, 10, 20, 30, 40], "loss steps 0, 10, ..., 40")
        check(all(abs(e.value - 1.0 / (k + 1)) < 1e-6 for k, e in enumerate(loss)), "loss values 1/(k+1)")
        lr = ea.Scalars("lr")
        print("Scalars('lr'):", lr)
        check(len(lr) == 1 and lr[0].step == 40 and abs(lr[0].value - 1e-3) < 1e-9, "lr 1e-3 at step 40")

        settings = ea.Tensors("settings")
        print("Tensors('settings'):", [(e.step, list(e.tensor_proto.string_val)) for e in settings])
        check(len(settings) == 1 and list(settings[0].tensor_proto.string_val) == [b"seed 7, solver *rk4*"],
              "text 'settings'")
        meta = ea.SummaryMetadata("settings")
        check(meta.plugin_data.plugin_name == "text", f"text plugin metadata: {meta.plugin_data.plugin_name!r}")

        if "ramp" not in tags.get("images", []):
            print("note: no images (the test binary was built without OpenCV)")
        else:
            for tag, w, h, colour in (("ramp", 12, 8, 0), ("samples", 18, 18, 2)):
                ims = ea.Images(tag)
                print(f"Images({tag!r}):", [(e.step, e.width, e.height, len(e.encoded_image_string)) for e in ims])
                check(len(ims) == 1, f"one image '{tag}'")
                e = ims[0]
                check((e.width, e.height) == (w, h), f"image '{tag}' is {w} x {h}")
                check(png_info(e.encoded_image_string) == (w, h, colour),
                      f"image '{tag}' is a PNG {w} x {h} of colour type {colour}")
            check(ea.Images("samples")[0].step == 40, "image 'samples' at step 40")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("tensorboard_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
