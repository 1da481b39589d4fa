"""safe_launch.recordtype: each record behaves as the dataclass it replaces.

Every case is run on a record and on the same class declared with
``@dataclasses.dataclass``, and the two must agree: construction (positional,
keyword, defaults, factories, InitVars and __post_init__), errors, repr,
equality, hashing, frozenness, and dataclasses' own functions.
"""

import dataclasses

import pytest

from safe_launch import recordtype


def declare(base):
    frozen = base is recordtype.Frozen

    def body(ns):
        ns["__annotations__"] = {"name": str, "count": int, "items": list, "hidden": tuple,
                                 "content": dataclasses.InitVar[bytes]}
        ns["count"] = 1
        ns["items"] = dataclasses.field(default_factory=list)
        ns["hidden"] = dataclasses.field(default=(), repr=False, compare=False)
        ns["content"] = None

        def __post_init__(self, content):
            object.__setattr__(self, "_content", content)
        ns["__post_init__"] = __post_init__
        ns["__doc__"] = "A record."
        return ns
    if base is None:
        return None
    cls = type("Thing", (base,), body({}))
    twin = dataclasses.dataclass(frozen=frozen, unsafe_hash=False)(type("Thing", (), body({})))
    return cls, twin


@pytest.mark.parametrize("base", [recordtype.Frozen, recordtype.Mutable])
def test_a_record_is_its_dataclass(base):
    cls, twin = declare(base)
    for args, kwargs in [(("a",), {}), (("a", 2), {}), ((), {"name": "b", "items": [1]}),
                         (("a",), {"content": b"x", "hidden": (1,)})]:
        r, d = cls(*args, **kwargs), twin(*args, **kwargs)
        assert repr(r) == repr(d)
        assert dataclasses.asdict(r) == dataclasses.asdict(d)
        assert [f.name for f in dataclasses.fields(r)] == [f.name for f in dataclasses.fields(d)]
        assert r._content == d._content
        assert r == cls(*args, **kwargs) and not r != cls(*args, **kwargs)
        assert (r == cls("other")) == (d == twin("other"))
        assert dataclasses.replace(r, count=5).count == 5
        assert r.__match_args__ == d.__match_args__
    assert cls("a").items is not cls("a").items          # a factory per instance
    assert cls("a", hidden=(1,)) == cls("a", hidden=(2,))    # compare=False
    assert cls("a") != twin("a")                         # another class never equal


@pytest.mark.parametrize("base", [recordtype.Frozen, recordtype.Mutable])
@pytest.mark.parametrize("args, kwargs", [((), {}), (("a", 1, [], (), None, 6), {}),
                                          (("a",), {"name": "b"}), ((), {"nope": 1})])
def test_wrong_arguments_fail_as_a_dataclass_does(base, args, kwargs):
    cls, twin = declare(base)
    with pytest.raises(TypeError):
        twin(*args, **kwargs)
    with pytest.raises(TypeError):
        cls(*args, **kwargs)


def test_frozen_and_hashing():
    cls, twin = declare(recordtype.Frozen)
    r = cls("a", items=())
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.name = "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del r.name
    assert hash(r) == hash(cls("a", items=(), hidden=(9,)))
    assert hash(r) == hash(twin("a", items=()))
    mutable, mtwin = declare(recordtype.Mutable)
    m = mutable("a")
    m.count = 3
    assert m.count == 3
    assert mutable.__hash__ is None and mtwin.__hash__ is None


def test_only_fields_and_initvars():
    import typing
    with pytest.raises(TypeError):
        type("Bad", (recordtype.Frozen,), {"__annotations__": {"x": typing.ClassVar[int]},
                                           "x": 1})


def test_copies_and_pickles_as_a_dataclass():
    import copy
    import pickle
    from safe_launch import configfiles
    r = configfiles.FileRecord("/a", "/a", "file", problems=("x",), content=b"bytes")
    for other in (copy.copy(r), copy.deepcopy(r), pickle.loads(pickle.dumps(r))):
        assert other == r and repr(other) == repr(r)
