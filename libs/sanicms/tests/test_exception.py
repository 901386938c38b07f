"""``sanicms.exception``: the original design's import path for the error classes."""

import sanicms
import sanicms.errors
import sanicms.exception


def test_the_original_designs_import_path_raises_the_librarys_errors():
    from sanicms.exception import ServerError

    error = ServerError(error={"detail": "x"}, code=50001, message="it broke")
    assert isinstance(error, sanicms.ApiError)
    assert (error.status_code, error.code, error.message, error.error) == (500, 50001, "it broke", {"detail": "x"})


def test_every_error_class_of_sanicms_errors_is_there_and_the_same_object():
    classes = {name for name, value in vars(sanicms.errors).items()
               if isinstance(value, type) and issubclass(value, sanicms.errors.ApiError)}
    assert classes <= set(sanicms.exception.__all__)
    for name in sanicms.exception.__all__:
        assert getattr(sanicms.exception, name) is getattr(sanicms.errors, name)
        assert getattr(sanicms, name) is getattr(sanicms.exception, name)  # the public API's too
