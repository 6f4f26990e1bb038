"""models/mnist through SQL on the 10,000 MNIST test images reproduces the
accuracy its training script measured with PyTorch (models/mnist/reference.json)."""
import json
import threading
import time

import psycopg
import pytest

from conftest import ROOT, conninfo, create_mnist, load_mnist_test_set


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


@pytest.mark.parametrize("batching", ["on", "off"])
def test_update_where_predict_rechecks_a_row_changed_meanwhile(dbname, conn, batching):
    """UPDATE ... WHERE predict_class(...) = 3 waits for a row that another
    transaction is changing into a digit of another class, then evaluates the
    prediction again on the committed features (EvalPlanQual) and leaves the
    row alone, with BatchPredict filtering as without it."""
    images, labels = load_mnist_test_set()
    create_mnist(conn)
    load_digits(conn, images[:500], labels[:500])
    threes = [r[0] for r in conn.execute(
        "SELECT id FROM digits WHERE predict_class('mnist', features) = 3 ORDER BY id")]
    other = conn.execute(
        "SELECT min(id) FROM digits WHERE predict_class('mnist', features) <> 3").fetchone()[0]
    changed = threes[0]
    update = "UPDATE digits SET label = -1 WHERE predict_class('mnist', features) = 3"
    conn.execute(f"SET pg_infer.batching = {batching}")
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {update}"))
    assert ("BatchPredict" in plan) == (batching == "on"), plan
    conn.execute("RESET pg_infer.batching")

    result = {}
    with psycopg.connect(**conninfo(dbname)) as holder:
        holder.execute("UPDATE digits SET features = (SELECT features FROM digits WHERE id = %s) "
                       "WHERE id = %s", (other, changed))

        def updater():
            with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
                c.execute(f"SET pg_infer.batching = {batching}")
                result["rows"] = c.execute(update).rowcount

        thread = threading.Thread(target=updater)
        thread.start()
        deadline = time.monotonic() + 20
        while not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND query LIKE 'UPDATE digits SET label%%'").fetchone()[0]:
            assert time.monotonic() < deadline, "the UPDATE never waited for the changed row"
            time.sleep(0.05)
        holder.commit()
        thread.join(60)
    assert result["rows"] == len(threes) - 1
    assert conn.execute("SELECT label FROM digits WHERE id = %s", (changed,)).fetchone()[0] != -1
    assert conn.execute("SELECT count(*) FROM digits WHERE label = -1").fetchone()[0] == len(threes) - 1
