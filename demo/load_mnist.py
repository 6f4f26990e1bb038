"""Demo loader: stores models/mnist with create_model and the 10,000 MNIST
test images from ../shared/data/mnist in table digits(id, label, features)."""
import argparse
import pathlib
import sys

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))
from mnist_data import load_mnist_test_set  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True)
    args = parser.parse_args()
    images, labels = load_mnist_test_set(ROOT.parent / "shared" / "data" / "mnist")
    with psycopg.connect(host=args.host, port=args.port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_infer")
        version = conn.execute(
            "SELECT create_model('mnist', %s::jsonb, %s, '{\"input_scale\": 0.00392156862745098}',"
            " 'MNIST MLP 784-128-10')",
            ((ROOT / "models/mnist/model.json").read_text(),
             (ROOT / "models/mnist/model.safetensors").read_bytes())).fetchone()[0]
        print(f"stored model mnist, version {version}")
        conn.execute("DROP TABLE IF EXISTS digits")
        conn.execute("CREATE TABLE digits (id int PRIMARY KEY, label int, features real[])")
        with conn.cursor().copy("COPY digits FROM STDIN") as copy:
            for i, (image, label) in enumerate(zip(images, labels)):
                copy.write_row((i, int(label), "{" + ",".join(map(str, image.tolist())) + "}"))
        print(f"loaded {len(images)} MNIST test images into table digits")


if __name__ == "__main__":
    main()
