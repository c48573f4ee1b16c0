from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CancelResultType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANCEL_RESULT_TYPE_UNSPECIFIED: _ClassVar[CancelResultType]
    CANCEL_RESULT_TYPE_SUCCESS: _ClassVar[CancelResultType]
    CANCEL_RESULT_TYPE_FAILED: _ClassVar[CancelResultType]
    CANCEL_RESULT_TYPE_TIMEOUT: _ClassVar[CancelResultType]
CANCEL_RESULT_TYPE_UNSPECIFIED: CancelResultType
CANCEL_RESULT_TYPE_SUCCESS: CancelResultType
CANCEL_RESULT_TYPE_FAILED: CancelResultType
CANCEL_RESULT_TYPE_TIMEOUT: CancelResultType

class ModelProviderConfig(_message.Message):
    __slots__ = ("id", "provider", "model", "api_key", "api_base", "requires_openai_auth", "api_protocol")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_BASE_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_OPENAI_AUTH_FIELD_NUMBER: _ClassVar[int]
    API_PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    model: str
    api_key: str
    api_base: str
    requires_openai_auth: bool
    api_protocol: str
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., api_key: _Optional[str] = ..., api_base: _Optional[str] = ..., requires_openai_auth: _Optional[bool] = ..., api_protocol: _Optional[str] = ...) -> None: ...

class Base64Data(_message.Message):
    __slots__ = ("data", "mime_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: str
    mime_type: str
    def __init__(self, data: _Optional[str] = ..., mime_type: _Optional[str] = ...) -> None: ...

class AttachmentSource(_message.Message):
    __slots__ = ("file_path", "base64", "url")
    FILE_PATH_FIELD_NUMBER: _ClassVar[int]
    BASE64_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    file_path: str
    base64: Base64Data
    url: str
    def __init__(self, file_path: _Optional[str] = ..., base64: _Optional[_Union[Base64Data, _Mapping]] = ..., url: _Optional[str] = ...) -> None: ...

class Dimensions(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class TextAttachment(_message.Message):
    __slots__ = ("id", "source", "filename", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: AttachmentSource
    filename: str
    description: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[AttachmentSource, _Mapping]] = ..., filename: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ImageAttachment(_message.Message):
    __slots__ = ("id", "source", "filename", "description", "mime_type", "dimensions")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: AttachmentSource
    filename: str
    description: str
    mime_type: str
    dimensions: Dimensions
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[AttachmentSource, _Mapping]] = ..., filename: _Optional[str] = ..., description: _Optional[str] = ..., mime_type: _Optional[str] = ..., dimensions: _Optional[_Union[Dimensions, _Mapping]] = ...) -> None: ...

class AudioAttachment(_message.Message):
    __slots__ = ("id", "source", "filename", "description", "duration")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: AttachmentSource
    filename: str
    description: str
    duration: float
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[AttachmentSource, _Mapping]] = ..., filename: _Optional[str] = ..., description: _Optional[str] = ..., duration: _Optional[float] = ...) -> None: ...

class DocumentAttachment(_message.Message):
    __slots__ = ("id", "source", "filename", "description", "size")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: AttachmentSource
    filename: str
    description: str
    size: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[_Union[AttachmentSource, _Mapping]] = ..., filename: _Optional[str] = ..., description: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("text", "image", "audio", "document")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    text: TextAttachment
    image: ImageAttachment
    audio: AudioAttachment
    document: DocumentAttachment
    def __init__(self, text: _Optional[_Union[TextAttachment, _Mapping]] = ..., image: _Optional[_Union[ImageAttachment, _Mapping]] = ..., audio: _Optional[_Union[AudioAttachment, _Mapping]] = ..., document: _Optional[_Union[DocumentAttachment, _Mapping]] = ...) -> None: ...

class ChatAgentServerConfig(_message.Message):
    __slots__ = ("agent_id", "command", "args", "env", "metadata")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    command: str
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, agent_id: _Optional[str] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ChatContextServerConfig(_message.Message):
    __slots__ = ("source", "enabled", "command", "args", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    source: str
    enabled: bool
    command: str
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    def __init__(self, source: _Optional[str] = ..., enabled: _Optional[bool] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ChatAgentConfig(_message.Message):
    __slots__ = ("agent_server", "context_servers")
    class ContextServersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ChatContextServerConfig
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ChatContextServerConfig, _Mapping]] = ...) -> None: ...
    AGENT_SERVER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_SERVERS_FIELD_NUMBER: _ClassVar[int]
    agent_server: ChatAgentServerConfig
    context_servers: _containers.MessageMap[str, ChatContextServerConfig]
    def __init__(self, agent_server: _Optional[_Union[ChatAgentServerConfig, _Mapping]] = ..., context_servers: _Optional[_Mapping[str, ChatContextServerConfig]] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("project_id", "session_id", "prompt", "model_config", "attachments", "request_id", "data_source_attachments", "system_prompt", "user_prompt", "agent_config", "service_type", "user_id", "permission_policy", "permission_timeout_seconds", "workspace", "repository")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_SOURCE_ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    USER_PROMPT_FIELD_NUMBER: _ClassVar[int]
    AGENT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_POLICY_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    session_id: str
    prompt: str
    model_config: ModelProviderConfig
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    request_id: str
    data_source_attachments: _containers.RepeatedScalarFieldContainer[str]
    system_prompt: str
    user_prompt: str
    agent_config: ChatAgentConfig
    service_type: str
    user_id: str
    permission_policy: str
    permission_timeout_seconds: int
    workspace: str
    repository: Repository
    def __init__(self, project_id: _Optional[str] = ..., session_id: _Optional[str] = ..., prompt: _Optional[str] = ..., model_config: _Optional[_Union[ModelProviderConfig, _Mapping]] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., request_id: _Optional[str] = ..., data_source_attachments: _Optional[_Iterable[str]] = ..., system_prompt: _Optional[str] = ..., user_prompt: _Optional[str] = ..., agent_config: _Optional[_Union[ChatAgentConfig, _Mapping]] = ..., service_type: _Optional[str] = ..., user_id: _Optional[str] = ..., permission_policy: _Optional[str] = ..., permission_timeout_seconds: _Optional[int] = ..., workspace: _Optional[str] = ..., repository: _Optional[_Union[Repository, _Mapping]] = ...) -> None: ...

class Repository(_message.Message):
    __slots__ = ("url", "ref", "depth")
    URL_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    url: str
    ref: str
    depth: int
    def __init__(self, url: _Optional[str] = ..., ref: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class GitRoute(_message.Message):
    __slots__ = ("prefix", "broker_url")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    BROKER_URL_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    broker_url: str
    def __init__(self, prefix: _Optional[str] = ..., broker_url: _Optional[str] = ...) -> None: ...

class GitAccess(_message.Message):
    __slots__ = ("broker_base", "stand_in", "routes", "author_name", "author_email")
    BROKER_BASE_FIELD_NUMBER: _ClassVar[int]
    STAND_IN_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_EMAIL_FIELD_NUMBER: _ClassVar[int]
    broker_base: str
    stand_in: str
    routes: _containers.RepeatedCompositeFieldContainer[GitRoute]
    author_name: str
    author_email: str
    def __init__(self, broker_base: _Optional[str] = ..., stand_in: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[GitRoute, _Mapping]]] = ..., author_name: _Optional[str] = ..., author_email: _Optional[str] = ...) -> None: ...

class GitAccessReply(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("project_id", "session_id", "success", "error", "request_id", "error_code", "need_fallback", "fallback_reason", "session_resumed")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    NEED_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    SESSION_RESUMED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    session_id: str
    success: bool
    error: str
    request_id: str
    error_code: str
    need_fallback: bool
    fallback_reason: str
    session_resumed: bool
    def __init__(self, project_id: _Optional[str] = ..., session_id: _Optional[str] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ..., request_id: _Optional[str] = ..., error_code: _Optional[str] = ..., need_fallback: _Optional[bool] = ..., fallback_reason: _Optional[str] = ..., session_resumed: _Optional[bool] = ...) -> None: ...

class ProgressRequest(_message.Message):
    __slots__ = ("session_id", "after_sequence")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    after_sequence: int
    def __init__(self, session_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("message_type", "sub_type", "payload", "request_id", "timestamp", "sequence", "session_id")
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUB_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    message_type: str
    sub_type: str
    payload: str
    request_id: str
    timestamp: int
    sequence: int
    session_id: str
    def __init__(self, message_type: _Optional[str] = ..., sub_type: _Optional[str] = ..., payload: _Optional[str] = ..., request_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., sequence: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("session_id", "reason", "project_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: str
    project_id: str
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("success", "result", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    result: CancelResultType
    message: str
    def __init__(self, success: _Optional[bool] = ..., result: _Optional[_Union[CancelResultType, str]] = ..., message: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("project_id", "session_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    session_id: str
    def __init__(self, project_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("status", "is_found")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IS_FOUND_FIELD_NUMBER: _ClassVar[int]
    status: str
    is_found: bool
    def __init__(self, status: _Optional[str] = ..., is_found: _Optional[bool] = ...) -> None: ...

class StopAgentRequest(_message.Message):
    __slots__ = ("project_id", "reason", "force")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    reason: str
    force: bool
    def __init__(self, project_id: _Optional[str] = ..., reason: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class StopAgentResponse(_message.Message):
    __slots__ = ("success", "result", "message", "project_id")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    success: bool
    result: str
    message: str
    project_id: str
    def __init__(self, success: _Optional[bool] = ..., result: _Optional[str] = ..., message: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class GetContainerStatusRequest(_message.Message):
    __slots__ = ("user_id", "project_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    project_id: str
    def __init__(self, user_id: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class GetContainerStatusResponse(_message.Message):
    __slots__ = ("is_active", "active_tasks", "uptime_seconds", "status", "cpu_percent", "memory_mb", "sessions")
    IS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    is_active: bool
    active_tasks: int
    uptime_seconds: int
    status: str
    cpu_percent: float
    memory_mb: float
    sessions: _containers.RepeatedCompositeFieldContainer[SessionProgress]
    def __init__(self, is_active: _Optional[bool] = ..., active_tasks: _Optional[int] = ..., uptime_seconds: _Optional[int] = ..., status: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., memory_mb: _Optional[float] = ..., sessions: _Optional[_Iterable[_Union[SessionProgress, _Mapping]]] = ...) -> None: ...

class SessionProgress(_message.Message):
    __slots__ = ("session_id", "project_id", "last_sequence", "busy")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    project_id: str
    last_sequence: int
    busy: bool
    def __init__(self, session_id: _Optional[str] = ..., project_id: _Optional[str] = ..., last_sequence: _Optional[int] = ..., busy: _Optional[bool] = ...) -> None: ...

class GetVncStatusRequest(_message.Message):
    __slots__ = ("user_id", "project_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    project_id: str
    def __init__(self, user_id: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class GetVncStatusResponse(_message.Message):
    __slots__ = ("vnc_ready", "novnc_ready", "message", "uptime_seconds")
    VNC_READY_FIELD_NUMBER: _ClassVar[int]
    NOVNC_READY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    vnc_ready: bool
    novnc_ready: bool
    message: str
    uptime_seconds: int
    def __init__(self, vnc_ready: _Optional[bool] = ..., novnc_ready: _Optional[bool] = ..., message: _Optional[str] = ..., uptime_seconds: _Optional[int] = ...) -> None: ...

class PermissionAnswer(_message.Message):
    __slots__ = ("session_id", "request_id", "option_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    request_id: str
    option_id: str
    def __init__(self, session_id: _Optional[str] = ..., request_id: _Optional[str] = ..., option_id: _Optional[str] = ...) -> None: ...

class PermissionAnswerReply(_message.Message):
    __slots__ = ("accepted", "message")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    message: str
    def __init__(self, accepted: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
