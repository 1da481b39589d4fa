"""safe_launch's records: dataclass fields, with methods written once for all.

Every decision record, file record and setting in safe_launch is a
dataclass, declared by deriving from :class:`Frozen` (or :class:`Mutable`).
The fields are dataclasses' own: ``dataclasses.fields``, ``asdict``,
``replace``, ``InitVar``, ``field(default_factory=..., repr=False,
compare=False)`` and ``__post_init__`` all work as documented.  Only the
methods differ: Python 3.11's ``@dataclass(frozen=True)`` writes the source
of ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and
``__delattr__`` for each class and compiles it with ``exec``.  That took
0.3-1 ms per class here, 10-25 ms for the 27 records a launch imports, in
the master before the first fork: the largest single cost of
safe_launch's import.  Here those six methods are written once, here,
and read each class's fields from a tuple built when the
class is declared.  A record is created a few dozen times per launch, so
a generic ``__init__`` costs microseconds where compiling one cost
milliseconds.
"""

import dataclasses

_MISSING = dataclasses.MISSING


class Mutable:
    """A mutable record: what ``@dataclasses.dataclass`` makes of a class deriving from it."""

    __slots__ = ()
    _record_init = _record_names = _record_repr = _record_compare = _record_hash = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Fields, InitVars, __match_args__ and the checks of a declaration
        # are dataclasses' own; none of its methods (each would be exec'd).
        dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
        fields = dataclasses.fields(cls)
        real = {f.name for f in fields}
        init = []
        for f in cls.__dataclass_fields__.values():
            initvar = f.name not in real
            if initvar and not isinstance(f.type, dataclasses.InitVar):
                raise TypeError("%s.%s: a record holds fields and InitVars only"
                                % (cls.__name__, f.name))
            init.append((f.name, f.init, f.default, f.default_factory, initvar))
        cls._record_init = tuple(init)
        cls._record_names = tuple(name for name, takes, _, _, _ in init if takes)
        cls._record_repr = tuple(f.name for f in fields if f.repr)
        cls._record_compare = tuple(f.name for f in fields if f.compare)
        cls._record_hash = tuple(f.name for f in fields
                                 if (f.compare if f.hash is None else f.hash))

    def __init__(self, *args, **kwargs):
        names = self._record_names
        if len(args) > len(names):
            raise TypeError("%s() takes %d positional arguments but %d were given"
                            % (type(self).__name__, len(names), len(args)))
        given = dict(zip(names, args))
        for name, value in kwargs.items():
            if name in given:
                raise TypeError("%s() got multiple values for argument %r"
                                % (type(self).__name__, name))
            if name not in names:
                raise TypeError("%s() got an unexpected keyword argument %r"
                                % (type(self).__name__, name))
            given[name] = value
        initvars = []
        for name, takes, default, factory, initvar in self._record_init:
            if takes and name in given:
                value = given[name]
            elif factory is not _MISSING:
                value = factory()
            elif default is not _MISSING:
                value = default
            elif takes:
                raise TypeError("%s() missing required argument: %r"
                                % (type(self).__name__, name))
            else:
                continue
            if initvar:
                initvars.append(value)
            else:
                object.__setattr__(self, name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init(*initvars)

    def __repr__(self):
        return "%s(%s)" % (type(self).__qualname__, ", ".join(
            "%s=%r" % (name, getattr(self, name)) for name in self._record_repr))

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (tuple(getattr(self, n) for n in self._record_compare)
                == tuple(getattr(other, n) for n in self._record_compare))

    __hash__ = None         # as @dataclass gives a mutable class with __eq__


class Frozen(Mutable):
    """A frozen record: what ``@dataclasses.dataclass(frozen=True)`` makes of a class
    deriving from it."""

    __slots__ = ()

    def __hash__(self):
        return hash(tuple(getattr(self, n) for n in self._record_hash))

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError("cannot assign to field %r" % name)

    def __delattr__(self, name):
        raise dataclasses.FrozenInstanceError("cannot delete field %r" % name)
