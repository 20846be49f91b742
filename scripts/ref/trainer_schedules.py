"""Keras reference for trainer's learning-rate schedules (schedule_test.go).

  trainer_schedules.py --lr 0.01 --warmup 5 --total 40 --val-losses 1,0.9,... \
      --factor 0.5 --patience 2 --min-lr 0.001

Prints JSON:
  cosine        [total + 3] CosineDecay(0, decay_steps=total - warmup, warmup_target=lr,
                warmup_steps=warmup) at steps 0 .. total + 2 (warmup 0: CosineDecay(lr, total))
  plateau_lr    [len(val_losses)] the optimizer's learning rate after
                ReduceLROnPlateau(factor, patience, min_lr).on_epoch_end with each val_loss
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--val-losses", required=True)
    ap.add_argument("--factor", type=float, required=True)
    ap.add_argument("--patience", type=int, required=True)
    ap.add_argument("--min-lr", type=float, required=True)
    a = ap.parse_args()

    if a.warmup:
        sched = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=a.total - a.warmup, warmup_target=a.lr, warmup_steps=a.warmup
        )
    else:
        sched = keras.optimizers.schedules.CosineDecay(a.lr, decay_steps=a.total)
    cosine = [float(sched(step)) for step in range(a.total + 3)]

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=a.lr), loss="mse")
    cb = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=a.factor, patience=a.patience, min_lr=a.min_lr)
    cb.set_model(model)
    cb.on_train_begin()
    plateau = []
    for epoch, v in enumerate(float(x) for x in a.val_losses.split(",")):
        cb.on_epoch_end(epoch, {"val_loss": v})
        plateau.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    json.dump({"cosine": cosine, "plateau_lr": plateau}, __import__("sys").stdout)


if __name__ == "__main__":
    main()
