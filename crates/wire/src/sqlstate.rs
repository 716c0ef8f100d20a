//! Every SQLSTATE PostgreSQL defines, as [`SqlState`] constants.
//!
//! Made from PostgreSQL 15's `src/backend/utils/errcodes.txt` (shipped as
//! `/usr/share/postgresql/15/errcodes.txt`): each constant is the `ERRCODE_` macro's name
//! without the prefix, documented with the condition name and class. Regenerate from a newer
//! file when PostgreSQL adds codes; codes not listed here still parse with [`SqlState::new`].

use crate::error::SqlState;

impl SqlState {
    /// `00000` successful completion (success; Class 00 - Successful Completion).
    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState(*b"00000");
    /// `01000` warning (warning; Class 01 - Warning).
    pub const WARNING: SqlState = SqlState(*b"01000");
    /// `0100C` dynamic result sets returned (warning; Class 01 - Warning).
    pub const WARNING_DYNAMIC_RESULT_SETS_RETURNED: SqlState = SqlState(*b"0100C");
    /// `01008` implicit zero bit padding (warning; Class 01 - Warning).
    pub const WARNING_IMPLICIT_ZERO_BIT_PADDING: SqlState = SqlState(*b"01008");
    /// `01003` null value eliminated in set function (warning; Class 01 - Warning).
    pub const WARNING_NULL_VALUE_ELIMINATED_IN_SET_FUNCTION: SqlState = SqlState(*b"01003");
    /// `01007` privilege not granted (warning; Class 01 - Warning).
    pub const WARNING_PRIVILEGE_NOT_GRANTED: SqlState = SqlState(*b"01007");
    /// `01006` privilege not revoked (warning; Class 01 - Warning).
    pub const WARNING_PRIVILEGE_NOT_REVOKED: SqlState = SqlState(*b"01006");
    /// `01004` string data right truncation (warning; Class 01 - Warning).
    pub const WARNING_STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState(*b"01004");
    /// `01P01` deprecated feature (warning; Class 01 - Warning).
    pub const WARNING_DEPRECATED_FEATURE: SqlState = SqlState(*b"01P01");
    /// `02000` no data (warning; Class 02 - No Data (this is also a warning class per the SQL standard)).
    pub const NO_DATA: SqlState = SqlState(*b"02000");
    /// `02001` no additional dynamic result sets returned (warning; Class 02 - No Data (this is also a warning class per the SQL standard)).
    pub const NO_ADDITIONAL_DYNAMIC_RESULT_SETS_RETURNED: SqlState = SqlState(*b"02001");
    /// `03000` sql statement not yet complete (error; Class 03 - SQL Statement Not Yet Complete).
    pub const SQL_STATEMENT_NOT_YET_COMPLETE: SqlState = SqlState(*b"03000");
    /// `08000` connection exception (error; Class 08 - Connection Exception).
    pub const CONNECTION_EXCEPTION: SqlState = SqlState(*b"08000");
    /// `08003` connection does not exist (error; Class 08 - Connection Exception).
    pub const CONNECTION_DOES_NOT_EXIST: SqlState = SqlState(*b"08003");
    /// `08006` connection failure (error; Class 08 - Connection Exception).
    pub const CONNECTION_FAILURE: SqlState = SqlState(*b"08006");
    /// `08001` sqlclient unable to establish sqlconnection (error; Class 08 - Connection Exception).
    pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: SqlState = SqlState(*b"08001");
    /// `08004` sqlserver rejected establishment of sqlconnection (error; Class 08 - Connection Exception).
    pub const SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION: SqlState = SqlState(*b"08004");
    /// `08007` transaction resolution unknown (error; Class 08 - Connection Exception).
    pub const TRANSACTION_RESOLUTION_UNKNOWN: SqlState = SqlState(*b"08007");
    /// `08P01` protocol violation (error; Class 08 - Connection Exception).
    pub const PROTOCOL_VIOLATION: SqlState = SqlState(*b"08P01");
    /// `09000` triggered action exception (error; Class 09 - Triggered Action Exception).
    pub const TRIGGERED_ACTION_EXCEPTION: SqlState = SqlState(*b"09000");
    /// `0A000` feature not supported (error; Class 0A - Feature Not Supported).
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState(*b"0A000");
    /// `0B000` invalid transaction initiation (error; Class 0B - Invalid Transaction Initiation).
    pub const INVALID_TRANSACTION_INITIATION: SqlState = SqlState(*b"0B000");
    /// `0F000` locator exception (error; Class 0F - Locator Exception).
    pub const LOCATOR_EXCEPTION: SqlState = SqlState(*b"0F000");
    /// `0F001` invalid locator specification (error; Class 0F - Locator Exception).
    pub const L_E_INVALID_SPECIFICATION: SqlState = SqlState(*b"0F001");
    /// `0L000` invalid grantor (error; Class 0L - Invalid Grantor).
    pub const INVALID_GRANTOR: SqlState = SqlState(*b"0L000");
    /// `0LP01` invalid grant operation (error; Class 0L - Invalid Grantor).
    pub const INVALID_GRANT_OPERATION: SqlState = SqlState(*b"0LP01");
    /// `0P000` invalid role specification (error; Class 0P - Invalid Role Specification).
    pub const INVALID_ROLE_SPECIFICATION: SqlState = SqlState(*b"0P000");
    /// `0Z000` diagnostics exception (error; Class 0Z - Diagnostics Exception).
    pub const DIAGNOSTICS_EXCEPTION: SqlState = SqlState(*b"0Z000");
    /// `0Z002` stacked diagnostics accessed without active handler (error; Class 0Z - Diagnostics Exception).
    pub const STACKED_DIAGNOSTICS_ACCESSED_WITHOUT_ACTIVE_HANDLER: SqlState = SqlState(*b"0Z002");
    /// `20000` case not found (error; Class 20 - Case Not Found).
    pub const CASE_NOT_FOUND: SqlState = SqlState(*b"20000");
    /// `21000` cardinality violation (error; Class 21 - Cardinality Violation).
    pub const CARDINALITY_VIOLATION: SqlState = SqlState(*b"21000");
    /// `22000` data exception (error; Class 22 - Data Exception).
    pub const DATA_EXCEPTION: SqlState = SqlState(*b"22000");
    /// `2202E` array element error (error; Class 22 - Data Exception).
    pub const ARRAY_ELEMENT_ERROR: SqlState = SqlState(*b"2202E");
    /// `2202E` array subscript error (error; Class 22 - Data Exception).
    pub const ARRAY_SUBSCRIPT_ERROR: SqlState = SqlState(*b"2202E");
    /// `22021` character not in repertoire (error; Class 22 - Data Exception).
    pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState(*b"22021");
    /// `22008` datetime field overflow (error; Class 22 - Data Exception).
    pub const DATETIME_FIELD_OVERFLOW: SqlState = SqlState(*b"22008");
    /// `22008` datetime value out of range (error; Class 22 - Data Exception).
    pub const DATETIME_VALUE_OUT_OF_RANGE: SqlState = SqlState(*b"22008");
    /// `22012` division by zero (error; Class 22 - Data Exception).
    pub const DIVISION_BY_ZERO: SqlState = SqlState(*b"22012");
    /// `22005` error in assignment (error; Class 22 - Data Exception).
    pub const ERROR_IN_ASSIGNMENT: SqlState = SqlState(*b"22005");
    /// `2200B` escape character conflict (error; Class 22 - Data Exception).
    pub const ESCAPE_CHARACTER_CONFLICT: SqlState = SqlState(*b"2200B");
    /// `22022` indicator overflow (error; Class 22 - Data Exception).
    pub const INDICATOR_OVERFLOW: SqlState = SqlState(*b"22022");
    /// `22015` interval field overflow (error; Class 22 - Data Exception).
    pub const INTERVAL_FIELD_OVERFLOW: SqlState = SqlState(*b"22015");
    /// `2201E` invalid argument for logarithm (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_LOG: SqlState = SqlState(*b"2201E");
    /// `22014` invalid argument for ntile function (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_NTILE: SqlState = SqlState(*b"22014");
    /// `22016` invalid argument for nth value function (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_NTH_VALUE: SqlState = SqlState(*b"22016");
    /// `2201F` invalid argument for power function (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: SqlState = SqlState(*b"2201F");
    /// `2201G` invalid argument for width bucket function (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION: SqlState = SqlState(*b"2201G");
    /// `22018` invalid character value for cast (error; Class 22 - Data Exception).
    pub const INVALID_CHARACTER_VALUE_FOR_CAST: SqlState = SqlState(*b"22018");
    /// `22007` invalid datetime format (error; Class 22 - Data Exception).
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState(*b"22007");
    /// `22019` invalid escape character (error; Class 22 - Data Exception).
    pub const INVALID_ESCAPE_CHARACTER: SqlState = SqlState(*b"22019");
    /// `2200D` invalid escape octet (error; Class 22 - Data Exception).
    pub const INVALID_ESCAPE_OCTET: SqlState = SqlState(*b"2200D");
    /// `22025` invalid escape sequence (error; Class 22 - Data Exception).
    pub const INVALID_ESCAPE_SEQUENCE: SqlState = SqlState(*b"22025");
    /// `22P06` nonstandard use of escape character (error; Class 22 - Data Exception).
    pub const NONSTANDARD_USE_OF_ESCAPE_CHARACTER: SqlState = SqlState(*b"22P06");
    /// `22010` invalid indicator parameter value (error; Class 22 - Data Exception).
    pub const INVALID_INDICATOR_PARAMETER_VALUE: SqlState = SqlState(*b"22010");
    /// `22023` invalid parameter value (error; Class 22 - Data Exception).
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState(*b"22023");
    /// `22013` invalid preceding or following size (error; Class 22 - Data Exception).
    pub const INVALID_PRECEDING_OR_FOLLOWING_SIZE: SqlState = SqlState(*b"22013");
    /// `2201B` invalid regular expression (error; Class 22 - Data Exception).
    pub const INVALID_REGULAR_EXPRESSION: SqlState = SqlState(*b"2201B");
    /// `2201W` invalid row count in limit clause (error; Class 22 - Data Exception).
    pub const INVALID_ROW_COUNT_IN_LIMIT_CLAUSE: SqlState = SqlState(*b"2201W");
    /// `2201X` invalid row count in result offset clause (error; Class 22 - Data Exception).
    pub const INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE: SqlState = SqlState(*b"2201X");
    /// `2202H` invalid tablesample argument (error; Class 22 - Data Exception).
    pub const INVALID_TABLESAMPLE_ARGUMENT: SqlState = SqlState(*b"2202H");
    /// `2202G` invalid tablesample repeat (error; Class 22 - Data Exception).
    pub const INVALID_TABLESAMPLE_REPEAT: SqlState = SqlState(*b"2202G");
    /// `22009` invalid time zone displacement value (error; Class 22 - Data Exception).
    pub const INVALID_TIME_ZONE_DISPLACEMENT_VALUE: SqlState = SqlState(*b"22009");
    /// `2200C` invalid use of escape character (error; Class 22 - Data Exception).
    pub const INVALID_USE_OF_ESCAPE_CHARACTER: SqlState = SqlState(*b"2200C");
    /// `2200G` most specific type mismatch (error; Class 22 - Data Exception).
    pub const MOST_SPECIFIC_TYPE_MISMATCH: SqlState = SqlState(*b"2200G");
    /// `22004` null value not allowed (error; Class 22 - Data Exception).
    pub const NULL_VALUE_NOT_ALLOWED: SqlState = SqlState(*b"22004");
    /// `22002` null value no indicator parameter (error; Class 22 - Data Exception).
    pub const NULL_VALUE_NO_INDICATOR_PARAMETER: SqlState = SqlState(*b"22002");
    /// `22003` numeric value out of range (error; Class 22 - Data Exception).
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState(*b"22003");
    /// `2200H` sequence generator limit exceeded (error; Class 22 - Data Exception).
    pub const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: SqlState = SqlState(*b"2200H");
    /// `22026` string data length mismatch (error; Class 22 - Data Exception).
    pub const STRING_DATA_LENGTH_MISMATCH: SqlState = SqlState(*b"22026");
    /// `22001` string data right truncation (error; Class 22 - Data Exception).
    pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState(*b"22001");
    /// `22011` substring error (error; Class 22 - Data Exception).
    pub const SUBSTRING_ERROR: SqlState = SqlState(*b"22011");
    /// `22027` trim error (error; Class 22 - Data Exception).
    pub const TRIM_ERROR: SqlState = SqlState(*b"22027");
    /// `22024` unterminated c string (error; Class 22 - Data Exception).
    pub const UNTERMINATED_C_STRING: SqlState = SqlState(*b"22024");
    /// `2200F` zero length character string (error; Class 22 - Data Exception).
    pub const ZERO_LENGTH_CHARACTER_STRING: SqlState = SqlState(*b"2200F");
    /// `22P01` floating point exception (error; Class 22 - Data Exception).
    pub const FLOATING_POINT_EXCEPTION: SqlState = SqlState(*b"22P01");
    /// `22P02` invalid text representation (error; Class 22 - Data Exception).
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState(*b"22P02");
    /// `22P03` invalid binary representation (error; Class 22 - Data Exception).
    pub const INVALID_BINARY_REPRESENTATION: SqlState = SqlState(*b"22P03");
    /// `22P04` bad copy file format (error; Class 22 - Data Exception).
    pub const BAD_COPY_FILE_FORMAT: SqlState = SqlState(*b"22P04");
    /// `22P05` untranslatable character (error; Class 22 - Data Exception).
    pub const UNTRANSLATABLE_CHARACTER: SqlState = SqlState(*b"22P05");
    /// `2200L` not an xml document (error; Class 22 - Data Exception).
    pub const NOT_AN_XML_DOCUMENT: SqlState = SqlState(*b"2200L");
    /// `2200M` invalid xml document (error; Class 22 - Data Exception).
    pub const INVALID_XML_DOCUMENT: SqlState = SqlState(*b"2200M");
    /// `2200N` invalid xml content (error; Class 22 - Data Exception).
    pub const INVALID_XML_CONTENT: SqlState = SqlState(*b"2200N");
    /// `2200S` invalid xml comment (error; Class 22 - Data Exception).
    pub const INVALID_XML_COMMENT: SqlState = SqlState(*b"2200S");
    /// `2200T` invalid xml processing instruction (error; Class 22 - Data Exception).
    pub const INVALID_XML_PROCESSING_INSTRUCTION: SqlState = SqlState(*b"2200T");
    /// `22030` duplicate json object key value (error; Class 22 - Data Exception).
    pub const DUPLICATE_JSON_OBJECT_KEY_VALUE: SqlState = SqlState(*b"22030");
    /// `22031` invalid argument for sql json datetime function (error; Class 22 - Data Exception).
    pub const INVALID_ARGUMENT_FOR_SQL_JSON_DATETIME_FUNCTION: SqlState = SqlState(*b"22031");
    /// `22032` invalid json text (error; Class 22 - Data Exception).
    pub const INVALID_JSON_TEXT: SqlState = SqlState(*b"22032");
    /// `22033` invalid sql json subscript (error; Class 22 - Data Exception).
    pub const INVALID_SQL_JSON_SUBSCRIPT: SqlState = SqlState(*b"22033");
    /// `22034` more than one sql json item (error; Class 22 - Data Exception).
    pub const MORE_THAN_ONE_SQL_JSON_ITEM: SqlState = SqlState(*b"22034");
    /// `22035` no sql json item (error; Class 22 - Data Exception).
    pub const NO_SQL_JSON_ITEM: SqlState = SqlState(*b"22035");
    /// `22036` non numeric sql json item (error; Class 22 - Data Exception).
    pub const NON_NUMERIC_SQL_JSON_ITEM: SqlState = SqlState(*b"22036");
    /// `22037` non unique keys in a json object (error; Class 22 - Data Exception).
    pub const NON_UNIQUE_KEYS_IN_A_JSON_OBJECT: SqlState = SqlState(*b"22037");
    /// `22038` singleton sql json item required (error; Class 22 - Data Exception).
    pub const SINGLETON_SQL_JSON_ITEM_REQUIRED: SqlState = SqlState(*b"22038");
    /// `22039` sql json array not found (error; Class 22 - Data Exception).
    pub const SQL_JSON_ARRAY_NOT_FOUND: SqlState = SqlState(*b"22039");
    /// `2203A` sql json member not found (error; Class 22 - Data Exception).
    pub const SQL_JSON_MEMBER_NOT_FOUND: SqlState = SqlState(*b"2203A");
    /// `2203B` sql json number not found (error; Class 22 - Data Exception).
    pub const SQL_JSON_NUMBER_NOT_FOUND: SqlState = SqlState(*b"2203B");
    /// `2203C` sql json object not found (error; Class 22 - Data Exception).
    pub const SQL_JSON_OBJECT_NOT_FOUND: SqlState = SqlState(*b"2203C");
    /// `2203D` too many json array elements (error; Class 22 - Data Exception).
    pub const TOO_MANY_JSON_ARRAY_ELEMENTS: SqlState = SqlState(*b"2203D");
    /// `2203E` too many json object members (error; Class 22 - Data Exception).
    pub const TOO_MANY_JSON_OBJECT_MEMBERS: SqlState = SqlState(*b"2203E");
    /// `2203F` sql json scalar required (error; Class 22 - Data Exception).
    pub const SQL_JSON_SCALAR_REQUIRED: SqlState = SqlState(*b"2203F");
    /// `2203G` sql json item cannot be cast to target type (error; Class 22 - Data Exception).
    pub const SQL_JSON_ITEM_CANNOT_BE_CAST_TO_TARGET_TYPE: SqlState = SqlState(*b"2203G");
    /// `23000` integrity constraint violation (error; Class 23 - Integrity Constraint Violation).
    pub const INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState(*b"23000");
    /// `23001` restrict violation (error; Class 23 - Integrity Constraint Violation).
    pub const RESTRICT_VIOLATION: SqlState = SqlState(*b"23001");
    /// `23502` not null violation (error; Class 23 - Integrity Constraint Violation).
    pub const NOT_NULL_VIOLATION: SqlState = SqlState(*b"23502");
    /// `23503` foreign key violation (error; Class 23 - Integrity Constraint Violation).
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState(*b"23503");
    /// `23505` unique violation (error; Class 23 - Integrity Constraint Violation).
    pub const UNIQUE_VIOLATION: SqlState = SqlState(*b"23505");
    /// `23514` check violation (error; Class 23 - Integrity Constraint Violation).
    pub const CHECK_VIOLATION: SqlState = SqlState(*b"23514");
    /// `23P01` exclusion violation (error; Class 23 - Integrity Constraint Violation).
    pub const EXCLUSION_VIOLATION: SqlState = SqlState(*b"23P01");
    /// `24000` invalid cursor state (error; Class 24 - Invalid Cursor State).
    pub const INVALID_CURSOR_STATE: SqlState = SqlState(*b"24000");
    /// `25000` invalid transaction state (error; Class 25 - Invalid Transaction State).
    pub const INVALID_TRANSACTION_STATE: SqlState = SqlState(*b"25000");
    /// `25001` active sql transaction (error; Class 25 - Invalid Transaction State).
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState(*b"25001");
    /// `25002` branch transaction already active (error; Class 25 - Invalid Transaction State).
    pub const BRANCH_TRANSACTION_ALREADY_ACTIVE: SqlState = SqlState(*b"25002");
    /// `25008` held cursor requires same isolation level (error; Class 25 - Invalid Transaction State).
    pub const HELD_CURSOR_REQUIRES_SAME_ISOLATION_LEVEL: SqlState = SqlState(*b"25008");
    /// `25003` inappropriate access mode for branch transaction (error; Class 25 - Invalid Transaction State).
    pub const INAPPROPRIATE_ACCESS_MODE_FOR_BRANCH_TRANSACTION: SqlState = SqlState(*b"25003");
    /// `25004` inappropriate isolation level for branch transaction (error; Class 25 - Invalid Transaction State).
    pub const INAPPROPRIATE_ISOLATION_LEVEL_FOR_BRANCH_TRANSACTION: SqlState = SqlState(*b"25004");
    /// `25005` no active sql transaction for branch transaction (error; Class 25 - Invalid Transaction State).
    pub const NO_ACTIVE_SQL_TRANSACTION_FOR_BRANCH_TRANSACTION: SqlState = SqlState(*b"25005");
    /// `25006` read only sql transaction (error; Class 25 - Invalid Transaction State).
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState(*b"25006");
    /// `25007` schema and data statement mixing not supported (error; Class 25 - Invalid Transaction State).
    pub const SCHEMA_AND_DATA_STATEMENT_MIXING_NOT_SUPPORTED: SqlState = SqlState(*b"25007");
    /// `25P01` no active sql transaction (error; Class 25 - Invalid Transaction State).
    pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState(*b"25P01");
    /// `25P02` in failed sql transaction (error; Class 25 - Invalid Transaction State).
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState(*b"25P02");
    /// `25P03` idle in transaction session timeout (error; Class 25 - Invalid Transaction State).
    pub const IDLE_IN_TRANSACTION_SESSION_TIMEOUT: SqlState = SqlState(*b"25P03");
    /// `26000` invalid sql statement name (error; Class 26 - Invalid SQL Statement Name).
    pub const INVALID_SQL_STATEMENT_NAME: SqlState = SqlState(*b"26000");
    /// `27000` triggered data change violation (error; Class 27 - Triggered Data Change Violation).
    pub const TRIGGERED_DATA_CHANGE_VIOLATION: SqlState = SqlState(*b"27000");
    /// `28000` invalid authorization specification (error; Class 28 - Invalid Authorization Specification).
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState(*b"28000");
    /// `28P01` invalid password (error; Class 28 - Invalid Authorization Specification).
    pub const INVALID_PASSWORD: SqlState = SqlState(*b"28P01");
    /// `2B000` dependent privilege descriptors still exist (error; Class 2B - Dependent Privilege Descriptors Still Exist).
    pub const DEPENDENT_PRIVILEGE_DESCRIPTORS_STILL_EXIST: SqlState = SqlState(*b"2B000");
    /// `2BP01` dependent objects still exist (error; Class 2B - Dependent Privilege Descriptors Still Exist).
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState(*b"2BP01");
    /// `2D000` invalid transaction termination (error; Class 2D - Invalid Transaction Termination).
    pub const INVALID_TRANSACTION_TERMINATION: SqlState = SqlState(*b"2D000");
    /// `2F000` sql routine exception (error; Class 2F - SQL Routine Exception).
    pub const SQL_ROUTINE_EXCEPTION: SqlState = SqlState(*b"2F000");
    /// `2F005` function executed no return statement (error; Class 2F - SQL Routine Exception).
    pub const S_R_E_FUNCTION_EXECUTED_NO_RETURN_STATEMENT: SqlState = SqlState(*b"2F005");
    /// `2F002` modifying sql data not permitted (error; Class 2F - SQL Routine Exception).
    pub const S_R_E_MODIFYING_SQL_DATA_NOT_PERMITTED: SqlState = SqlState(*b"2F002");
    /// `2F003` prohibited sql statement attempted (error; Class 2F - SQL Routine Exception).
    pub const S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED: SqlState = SqlState(*b"2F003");
    /// `2F004` reading sql data not permitted (error; Class 2F - SQL Routine Exception).
    pub const S_R_E_READING_SQL_DATA_NOT_PERMITTED: SqlState = SqlState(*b"2F004");
    /// `34000` invalid cursor name (error; Class 34 - Invalid Cursor Name).
    pub const INVALID_CURSOR_NAME: SqlState = SqlState(*b"34000");
    /// `38000` external routine exception (error; Class 38 - External Routine Exception).
    pub const EXTERNAL_ROUTINE_EXCEPTION: SqlState = SqlState(*b"38000");
    /// `38001` containing sql not permitted (error; Class 38 - External Routine Exception).
    pub const E_R_E_CONTAINING_SQL_NOT_PERMITTED: SqlState = SqlState(*b"38001");
    /// `38002` modifying sql data not permitted (error; Class 38 - External Routine Exception).
    pub const E_R_E_MODIFYING_SQL_DATA_NOT_PERMITTED: SqlState = SqlState(*b"38002");
    /// `38003` prohibited sql statement attempted (error; Class 38 - External Routine Exception).
    pub const E_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED: SqlState = SqlState(*b"38003");
    /// `38004` reading sql data not permitted (error; Class 38 - External Routine Exception).
    pub const E_R_E_READING_SQL_DATA_NOT_PERMITTED: SqlState = SqlState(*b"38004");
    /// `39000` external routine invocation exception (error; Class 39 - External Routine Invocation Exception).
    pub const EXTERNAL_ROUTINE_INVOCATION_EXCEPTION: SqlState = SqlState(*b"39000");
    /// `39001` invalid sqlstate returned (error; Class 39 - External Routine Invocation Exception).
    pub const E_R_I_E_INVALID_SQLSTATE_RETURNED: SqlState = SqlState(*b"39001");
    /// `39004` null value not allowed (error; Class 39 - External Routine Invocation Exception).
    pub const E_R_I_E_NULL_VALUE_NOT_ALLOWED: SqlState = SqlState(*b"39004");
    /// `39P01` trigger protocol violated (error; Class 39 - External Routine Invocation Exception).
    pub const E_R_I_E_TRIGGER_PROTOCOL_VIOLATED: SqlState = SqlState(*b"39P01");
    /// `39P02` srf protocol violated (error; Class 39 - External Routine Invocation Exception).
    pub const E_R_I_E_SRF_PROTOCOL_VIOLATED: SqlState = SqlState(*b"39P02");
    /// `39P03` event trigger protocol violated (error; Class 39 - External Routine Invocation Exception).
    pub const E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED: SqlState = SqlState(*b"39P03");
    /// `3B000` savepoint exception (error; Class 3B - Savepoint Exception).
    pub const SAVEPOINT_EXCEPTION: SqlState = SqlState(*b"3B000");
    /// `3B001` invalid savepoint specification (error; Class 3B - Savepoint Exception).
    pub const S_E_INVALID_SPECIFICATION: SqlState = SqlState(*b"3B001");
    /// `3D000` invalid catalog name (error; Class 3D - Invalid Catalog Name).
    pub const INVALID_CATALOG_NAME: SqlState = SqlState(*b"3D000");
    /// `3F000` invalid schema name (error; Class 3F - Invalid Schema Name).
    pub const INVALID_SCHEMA_NAME: SqlState = SqlState(*b"3F000");
    /// `40000` transaction rollback (error; Class 40 - Transaction Rollback).
    pub const TRANSACTION_ROLLBACK: SqlState = SqlState(*b"40000");
    /// `40002` transaction integrity constraint violation (error; Class 40 - Transaction Rollback).
    pub const T_R_INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState(*b"40002");
    /// `40001` serialization failure (error; Class 40 - Transaction Rollback).
    pub const T_R_SERIALIZATION_FAILURE: SqlState = SqlState(*b"40001");
    /// `40003` statement completion unknown (error; Class 40 - Transaction Rollback).
    pub const T_R_STATEMENT_COMPLETION_UNKNOWN: SqlState = SqlState(*b"40003");
    /// `40P01` deadlock detected (error; Class 40 - Transaction Rollback).
    pub const T_R_DEADLOCK_DETECTED: SqlState = SqlState(*b"40P01");
    /// `42000` syntax error or access rule violation (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: SqlState = SqlState(*b"42000");
    /// `42601` syntax error (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const SYNTAX_ERROR: SqlState = SqlState(*b"42601");
    /// `42501` insufficient privilege (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState(*b"42501");
    /// `42846` cannot coerce (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const CANNOT_COERCE: SqlState = SqlState(*b"42846");
    /// `42803` grouping error (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const GROUPING_ERROR: SqlState = SqlState(*b"42803");
    /// `42P20` windowing error (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const WINDOWING_ERROR: SqlState = SqlState(*b"42P20");
    /// `42P19` invalid recursion (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_RECURSION: SqlState = SqlState(*b"42P19");
    /// `42830` invalid foreign key (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_FOREIGN_KEY: SqlState = SqlState(*b"42830");
    /// `42602` invalid name (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_NAME: SqlState = SqlState(*b"42602");
    /// `42622` name too long (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const NAME_TOO_LONG: SqlState = SqlState(*b"42622");
    /// `42939` reserved name (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const RESERVED_NAME: SqlState = SqlState(*b"42939");
    /// `42804` datatype mismatch (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DATATYPE_MISMATCH: SqlState = SqlState(*b"42804");
    /// `42P18` indeterminate datatype (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INDETERMINATE_DATATYPE: SqlState = SqlState(*b"42P18");
    /// `42P21` collation mismatch (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const COLLATION_MISMATCH: SqlState = SqlState(*b"42P21");
    /// `42P22` indeterminate collation (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INDETERMINATE_COLLATION: SqlState = SqlState(*b"42P22");
    /// `42809` wrong object type (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const WRONG_OBJECT_TYPE: SqlState = SqlState(*b"42809");
    /// `428C9` generated always (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const GENERATED_ALWAYS: SqlState = SqlState(*b"428C9");
    /// `42703` undefined column (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_COLUMN: SqlState = SqlState(*b"42703");
    /// `34000` undefined cursor (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_CURSOR: SqlState = SqlState(*b"34000");
    /// `3D000` undefined database (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_DATABASE: SqlState = SqlState(*b"3D000");
    /// `42883` undefined function (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_FUNCTION: SqlState = SqlState(*b"42883");
    /// `26000` undefined pstatement (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_PSTATEMENT: SqlState = SqlState(*b"26000");
    /// `3F000` undefined schema (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_SCHEMA: SqlState = SqlState(*b"3F000");
    /// `42P01` undefined table (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_TABLE: SqlState = SqlState(*b"42P01");
    /// `42P02` undefined parameter (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_PARAMETER: SqlState = SqlState(*b"42P02");
    /// `42704` undefined object (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const UNDEFINED_OBJECT: SqlState = SqlState(*b"42704");
    /// `42701` duplicate column (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_COLUMN: SqlState = SqlState(*b"42701");
    /// `42P03` duplicate cursor (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_CURSOR: SqlState = SqlState(*b"42P03");
    /// `42P04` duplicate database (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_DATABASE: SqlState = SqlState(*b"42P04");
    /// `42723` duplicate function (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_FUNCTION: SqlState = SqlState(*b"42723");
    /// `42P05` duplicate prepared statement (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_PSTATEMENT: SqlState = SqlState(*b"42P05");
    /// `42P06` duplicate schema (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_SCHEMA: SqlState = SqlState(*b"42P06");
    /// `42P07` duplicate table (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_TABLE: SqlState = SqlState(*b"42P07");
    /// `42712` duplicate alias (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_ALIAS: SqlState = SqlState(*b"42712");
    /// `42710` duplicate object (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const DUPLICATE_OBJECT: SqlState = SqlState(*b"42710");
    /// `42702` ambiguous column (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState(*b"42702");
    /// `42725` ambiguous function (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const AMBIGUOUS_FUNCTION: SqlState = SqlState(*b"42725");
    /// `42P08` ambiguous parameter (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const AMBIGUOUS_PARAMETER: SqlState = SqlState(*b"42P08");
    /// `42P09` ambiguous alias (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const AMBIGUOUS_ALIAS: SqlState = SqlState(*b"42P09");
    /// `42P10` invalid column reference (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_COLUMN_REFERENCE: SqlState = SqlState(*b"42P10");
    /// `42611` invalid column definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_COLUMN_DEFINITION: SqlState = SqlState(*b"42611");
    /// `42P11` invalid cursor definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_CURSOR_DEFINITION: SqlState = SqlState(*b"42P11");
    /// `42P12` invalid database definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_DATABASE_DEFINITION: SqlState = SqlState(*b"42P12");
    /// `42P13` invalid function definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_FUNCTION_DEFINITION: SqlState = SqlState(*b"42P13");
    /// `42P14` invalid prepared statement definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_PSTATEMENT_DEFINITION: SqlState = SqlState(*b"42P14");
    /// `42P15` invalid schema definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_SCHEMA_DEFINITION: SqlState = SqlState(*b"42P15");
    /// `42P16` invalid table definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_TABLE_DEFINITION: SqlState = SqlState(*b"42P16");
    /// `42P17` invalid object definition (error; Class 42 - Syntax Error or Access Rule Violation).
    pub const INVALID_OBJECT_DEFINITION: SqlState = SqlState(*b"42P17");
    /// `44000` with check option violation (error; Class 44 - WITH CHECK OPTION Violation).
    pub const WITH_CHECK_OPTION_VIOLATION: SqlState = SqlState(*b"44000");
    /// `53000` insufficient resources (error; Class 53 - Insufficient Resources).
    pub const INSUFFICIENT_RESOURCES: SqlState = SqlState(*b"53000");
    /// `53100` disk full (error; Class 53 - Insufficient Resources).
    pub const DISK_FULL: SqlState = SqlState(*b"53100");
    /// `53200` out of memory (error; Class 53 - Insufficient Resources).
    pub const OUT_OF_MEMORY: SqlState = SqlState(*b"53200");
    /// `53300` too many connections (error; Class 53 - Insufficient Resources).
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState(*b"53300");
    /// `53400` configuration limit exceeded (error; Class 53 - Insufficient Resources).
    pub const CONFIGURATION_LIMIT_EXCEEDED: SqlState = SqlState(*b"53400");
    /// `54000` program limit exceeded (error; Class 54 - Program Limit Exceeded).
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState(*b"54000");
    /// `54001` statement too complex (error; Class 54 - Program Limit Exceeded).
    pub const STATEMENT_TOO_COMPLEX: SqlState = SqlState(*b"54001");
    /// `54011` too many columns (error; Class 54 - Program Limit Exceeded).
    pub const TOO_MANY_COLUMNS: SqlState = SqlState(*b"54011");
    /// `54023` too many arguments (error; Class 54 - Program Limit Exceeded).
    pub const TOO_MANY_ARGUMENTS: SqlState = SqlState(*b"54023");
    /// `55000` object not in prerequisite state (error; Class 55 - Object Not In Prerequisite State).
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState(*b"55000");
    /// `55006` object in use (error; Class 55 - Object Not In Prerequisite State).
    pub const OBJECT_IN_USE: SqlState = SqlState(*b"55006");
    /// `55P02` cant change runtime param (error; Class 55 - Object Not In Prerequisite State).
    pub const CANT_CHANGE_RUNTIME_PARAM: SqlState = SqlState(*b"55P02");
    /// `55P03` lock not available (error; Class 55 - Object Not In Prerequisite State).
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState(*b"55P03");
    /// `55P04` unsafe new enum value usage (error; Class 55 - Object Not In Prerequisite State).
    pub const UNSAFE_NEW_ENUM_VALUE_USAGE: SqlState = SqlState(*b"55P04");
    /// `57000` operator intervention (error; Class 57 - Operator Intervention).
    pub const OPERATOR_INTERVENTION: SqlState = SqlState(*b"57000");
    /// `57014` query canceled (error; Class 57 - Operator Intervention).
    pub const QUERY_CANCELED: SqlState = SqlState(*b"57014");
    /// `57P01` admin shutdown (error; Class 57 - Operator Intervention).
    pub const ADMIN_SHUTDOWN: SqlState = SqlState(*b"57P01");
    /// `57P02` crash shutdown (error; Class 57 - Operator Intervention).
    pub const CRASH_SHUTDOWN: SqlState = SqlState(*b"57P02");
    /// `57P03` cannot connect now (error; Class 57 - Operator Intervention).
    pub const CANNOT_CONNECT_NOW: SqlState = SqlState(*b"57P03");
    /// `57P04` database dropped (error; Class 57 - Operator Intervention).
    pub const DATABASE_DROPPED: SqlState = SqlState(*b"57P04");
    /// `57P05` idle session timeout (error; Class 57 - Operator Intervention).
    pub const IDLE_SESSION_TIMEOUT: SqlState = SqlState(*b"57P05");
    /// `58000` system error (error; Class 58 - System Error (errors external to PostgreSQL itself)).
    pub const SYSTEM_ERROR: SqlState = SqlState(*b"58000");
    /// `58030` io error (error; Class 58 - System Error (errors external to PostgreSQL itself)).
    pub const IO_ERROR: SqlState = SqlState(*b"58030");
    /// `58P01` undefined file (error; Class 58 - System Error (errors external to PostgreSQL itself)).
    pub const UNDEFINED_FILE: SqlState = SqlState(*b"58P01");
    /// `58P02` duplicate file (error; Class 58 - System Error (errors external to PostgreSQL itself)).
    pub const DUPLICATE_FILE: SqlState = SqlState(*b"58P02");
    /// `72000` snapshot too old (error; Class 72 - Snapshot Failure).
    pub const SNAPSHOT_TOO_OLD: SqlState = SqlState(*b"72000");
    /// `F0000` config file error (error; Class F0 - Configuration File Error).
    pub const CONFIG_FILE_ERROR: SqlState = SqlState(*b"F0000");
    /// `F0001` lock file exists (error; Class F0 - Configuration File Error).
    pub const LOCK_FILE_EXISTS: SqlState = SqlState(*b"F0001");
    /// `HV000` fdw error (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_ERROR: SqlState = SqlState(*b"HV000");
    /// `HV005` fdw column name not found (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_COLUMN_NAME_NOT_FOUND: SqlState = SqlState(*b"HV005");
    /// `HV002` fdw dynamic parameter value needed (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_DYNAMIC_PARAMETER_VALUE_NEEDED: SqlState = SqlState(*b"HV002");
    /// `HV010` fdw function sequence error (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_FUNCTION_SEQUENCE_ERROR: SqlState = SqlState(*b"HV010");
    /// `HV021` fdw inconsistent descriptor information (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INCONSISTENT_DESCRIPTOR_INFORMATION: SqlState = SqlState(*b"HV021");
    /// `HV024` fdw invalid attribute value (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_ATTRIBUTE_VALUE: SqlState = SqlState(*b"HV024");
    /// `HV007` fdw invalid column name (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_COLUMN_NAME: SqlState = SqlState(*b"HV007");
    /// `HV008` fdw invalid column number (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_COLUMN_NUMBER: SqlState = SqlState(*b"HV008");
    /// `HV004` fdw invalid data type (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_DATA_TYPE: SqlState = SqlState(*b"HV004");
    /// `HV006` fdw invalid data type descriptors (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_DATA_TYPE_DESCRIPTORS: SqlState = SqlState(*b"HV006");
    /// `HV091` fdw invalid descriptor field identifier (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_DESCRIPTOR_FIELD_IDENTIFIER: SqlState = SqlState(*b"HV091");
    /// `HV00B` fdw invalid handle (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_HANDLE: SqlState = SqlState(*b"HV00B");
    /// `HV00C` fdw invalid option index (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_OPTION_INDEX: SqlState = SqlState(*b"HV00C");
    /// `HV00D` fdw invalid option name (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_OPTION_NAME: SqlState = SqlState(*b"HV00D");
    /// `HV090` fdw invalid string length or buffer length (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_STRING_LENGTH_OR_BUFFER_LENGTH: SqlState = SqlState(*b"HV090");
    /// `HV00A` fdw invalid string format (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_STRING_FORMAT: SqlState = SqlState(*b"HV00A");
    /// `HV009` fdw invalid use of null pointer (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_INVALID_USE_OF_NULL_POINTER: SqlState = SqlState(*b"HV009");
    /// `HV014` fdw too many handles (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_TOO_MANY_HANDLES: SqlState = SqlState(*b"HV014");
    /// `HV001` fdw out of memory (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_OUT_OF_MEMORY: SqlState = SqlState(*b"HV001");
    /// `HV00P` fdw no schemas (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_NO_SCHEMAS: SqlState = SqlState(*b"HV00P");
    /// `HV00J` fdw option name not found (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_OPTION_NAME_NOT_FOUND: SqlState = SqlState(*b"HV00J");
    /// `HV00K` fdw reply handle (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_REPLY_HANDLE: SqlState = SqlState(*b"HV00K");
    /// `HV00Q` fdw schema not found (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_SCHEMA_NOT_FOUND: SqlState = SqlState(*b"HV00Q");
    /// `HV00R` fdw table not found (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_TABLE_NOT_FOUND: SqlState = SqlState(*b"HV00R");
    /// `HV00L` fdw unable to create execution (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_UNABLE_TO_CREATE_EXECUTION: SqlState = SqlState(*b"HV00L");
    /// `HV00M` fdw unable to create reply (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_UNABLE_TO_CREATE_REPLY: SqlState = SqlState(*b"HV00M");
    /// `HV00N` fdw unable to establish connection (error; Class HV - Foreign Data Wrapper Error (SQL/MED)).
    pub const FDW_UNABLE_TO_ESTABLISH_CONNECTION: SqlState = SqlState(*b"HV00N");
    /// `P0000` plpgsql error (error; Class P0 - PL/pgSQL Error).
    pub const PLPGSQL_ERROR: SqlState = SqlState(*b"P0000");
    /// `P0001` raise exception (error; Class P0 - PL/pgSQL Error).
    pub const RAISE_EXCEPTION: SqlState = SqlState(*b"P0001");
    /// `P0002` no data found (error; Class P0 - PL/pgSQL Error).
    pub const NO_DATA_FOUND: SqlState = SqlState(*b"P0002");
    /// `P0003` too many rows (error; Class P0 - PL/pgSQL Error).
    pub const TOO_MANY_ROWS: SqlState = SqlState(*b"P0003");
    /// `P0004` assert failure (error; Class P0 - PL/pgSQL Error).
    pub const ASSERT_FAILURE: SqlState = SqlState(*b"P0004");
    /// `XX000` internal error (error; Class XX - Internal Error).
    pub const INTERNAL_ERROR: SqlState = SqlState(*b"XX000");
    /// `XX001` data corrupted (error; Class XX - Internal Error).
    pub const DATA_CORRUPTED: SqlState = SqlState(*b"XX001");
    /// `XX002` index corrupted (error; Class XX - Internal Error).
    pub const INDEX_CORRUPTED: SqlState = SqlState(*b"XX002");

    /// `40001`, as [`T_R_SERIALIZATION_FAILURE`](SqlState::T_R_SERIALIZATION_FAILURE): the
    /// transaction may be retried.
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::T_R_SERIALIZATION_FAILURE;
    /// `40P01`, as [`T_R_DEADLOCK_DETECTED`](SqlState::T_R_DEADLOCK_DETECTED).
    pub const DEADLOCK_DETECTED: SqlState = SqlState::T_R_DEADLOCK_DETECTED;
}
