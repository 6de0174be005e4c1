"""DRF parsers that refuse a request body carrying a forbidden field (see privacy/guard.py)."""

from rest_framework import exceptions, parsers, status

from privacy.guard import forbidden_in, forbidden_in_data, forbidden_messages


class ForbiddenField(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "forbidden_field"

    def __init__(self, names: list[str]):
        super().__init__(forbidden_messages(names), code="forbidden_field")


class GuardedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        found = forbidden_in_data(data)
        if found:
            raise ForbiddenField(found)
        return data


class GuardedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        found = forbidden_in(data.keys())
        if found:
            raise ForbiddenField(found)
        return data


class GuardedMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        found = forbidden_in([*result.data.keys(), *result.files.keys()])
        if found:
            raise ForbiddenField(found)
        return result
