"""The stage's garbage-collection setting: older objects skipped inside, nothing kept after."""

import gc
import weakref

from toolkit.heap import older_objects_frozen


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_stage_collects_only_what_it_made_and_frees_the_rest_after_it():
    garbage = weakref.ref(Node())  # already garbage when the stage starts: freed, never frozen
    older = Node()
    older_ref = weakref.ref(older)
    with older_objects_frozen():
        assert garbage() is None
        assert gc.get_freeze_count() > 0
        del older  # garbage now, but frozen: a Trainer's gc.collect() does not walk it
        inner = weakref.ref(Node())
        gc.collect()
        assert inner() is None, "objects the stage made are collected as usual"
        assert older_ref() is not None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert older_ref() is None, "after the stage, nothing stays frozen"
