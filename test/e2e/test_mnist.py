"""models/mnist through SQL on the 10,000 MNIST test images reproduces the
accuracy its training script measured with PyTorch (models/mnist/reference.json)."""
import json

from conftest import ROOT, create_mnist, load_mnist_test_set


def load_digits(conn, images, labels, storage=None):
    """Loads the test set into table digits(id, label, features real[])."""
    conn.execute("CREATE TABLE digits (id int, label int, features real[])")
    if storage:
        conn.execute(f"ALTER TABLE digits ALTER COLUMN features SET STORAGE {storage}")
    with conn.cursor().copy("COPY digits (id, label, features) FROM STDIN") as copy:
        for i, (image, label) in enumerate(zip(images, labels)):
            copy.write_row((i, int(label), "{" + ",".join(map(str, image.tolist())) + "}"))


def test_accuracy_matches_reference(conn):
    reference = json.loads((ROOT / "models/mnist/reference.json").read_text())
    images, labels = load_mnist_test_set()
    assert len(images) == reference["test_images"] == 10000
    create_mnist(conn)
    load_digits(conn, images, labels)
    correct = conn.execute(
        "SELECT count(*) FROM digits WHERE predict_class('mnist', features) = label").fetchone()[0]
    print(f"MNIST through SQL: {correct} / 10000 correct, reference {reference['correct']}")
    assert correct == reference["correct"]


def test_batch_and_row_agree_on_test_set(conn):
    images, labels = load_mnist_test_set()
    create_mnist(conn)
    load_digits(conn, images[:2000], labels[:2000], storage="PLAIN")
    rows = conn.execute(
        "SELECT array_agg(predict_class('mnist', features) ORDER BY id) FROM digits").fetchone()[0]
    batch = conn.execute(
        "SELECT predict_batch('mnist', array_agg(features ORDER BY id)) FROM digits").fetchone()[0]
    batch_classes = [max(range(10), key=lambda k: row[k]) for row in batch]
    assert rows == batch_classes
