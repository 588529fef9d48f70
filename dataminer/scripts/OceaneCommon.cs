// Shared code of the Oceane Automation scripts: script parameters, the intake HTTP client, JSON and
// the alarm-property writer. dataminer/build_scripts.py puts this file into every script's C# block
// (after the script's own code), so each script imports as one self-contained XML file.
// Kept to C# 6 and .NET Framework 4.x: DataMiner compiles Automation scripts itself, and the tests compile
// them with Mono's mcs against tests/dataminer_stub.
namespace Oceane.DataMiner
{
	using System;
	using System.Collections;
	using System.Collections.Generic;
	using System.Globalization;
	using System.Linq;
	using System.Net;
	using System.Net.Http;
	using System.Net.Http.Headers;
	using System.Text;
	using System.Web.Script.Serialization;

	using Skyline.DataMiner.Automation;

	/// <summary>Names shared with the intake and the worker (docs/oceane-api.md section 5).</summary>
	public static class OceaneNames
	{
		public const string TicketIdProperty = "Oceane Ticket ID";
		public const string TicketUrlProperty = "Oceane Ticket URL";
		public const string TicketStatusProperty = "Oceane Ticket Status";

		public const string DmaIdParam = "DMA ID";
		public const string ElementIdParam = "Element ID";
		public const string AlarmIdParam = "Alarm ID";
		public const string ElementNameParam = "Element Name";
		public const string AlarmValueParam = "Alarm Value";
		public const string RootTimeParam = "Root Time";

		public const string IntakeUrlParam = "Intake URL";
		public const string IntakeTokenParam = "Intake Token";
		public const string AlarmWriterParam = "Alarm Writer";

		/// <summary>The only alarm properties these scripts ever write.</summary>
		public static readonly string[] AlarmProperties = { TicketIdProperty, TicketUrlProperty, TicketStatusProperty };

		/// <summary>Longest property value accepted (a URL or an ID is far shorter; this stops junk).</summary>
		public const int MaxPropertyLength = 2048;
	}

	/// <summary>A mistake in the input or the configuration; the message names the field and what is allowed.</summary>
	public sealed class InputException : Exception
	{
		public InputException(string message) : base(message)
		{
		}
	}

	/// <summary>Reads script parameters.</summary>
	public static class ScriptParams
	{
		/// <summary>The trimmed value of a parameter the script declares.</summary>
		public static string Get(IEngine engine, string name)
		{
			ScriptParam param = engine.GetScriptParam(name);
			if (param == null)
			{
				throw new InputException("script parameter '" + name + "' is not defined on this script");
			}

			return (param.Value ?? string.Empty).Trim();
		}

		/// <summary>The value of a parameter a caller may leave out; empty when it is absent.</summary>
		public static string Optional(IEngine engine, string name)
		{
			try
			{
				ScriptParam param = engine.GetScriptParam(name);
				return param == null ? string.Empty : (param.Value ?? string.Empty).Trim();
			}
			catch (ScriptAbortException)
			{
				throw;
			}
			catch (Exception)
			{
				// DataMiner throws for a parameter the caller did not pass: that is what "optional" means here.
				return string.Empty;
			}
		}
	}

	/// <summary>An alarm across a DataMiner System: DMA ID, element ID and root alarm ID.</summary>
	public sealed class AlarmRef
	{
		public AlarmRef(int dmaId, int elementId, int alarmId)
		{
			DmaId = dmaId;
			ElementId = elementId;
			AlarmId = alarmId;
		}

		public int DmaId { get; private set; }

		public int ElementId { get; private set; }

		public int AlarmId { get; private set; }

		/// <summary>Parses the three IDs as DataMiner passes them (decimal strings).</summary>
		public static AlarmRef Parse(string dmaId, string elementId, string alarmId)
		{
			return new AlarmRef(
				ParseId(OceaneNames.DmaIdParam, dmaId),
				ParseId(OceaneNames.ElementIdParam, elementId),
				ParseId(OceaneNames.AlarmIdParam, alarmId));
		}

		/// <summary>A positive 32-bit integer, or an InputException naming the field.</summary>
		public static int ParseId(string field, string raw)
		{
			int value;
			string text = (raw ?? string.Empty).Trim();
			if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) || value <= 0)
			{
				throw new InputException(field + ": expected a positive integer, got '" + Shorten(text) + "'");
			}

			return value;
		}

		public override string ToString()
		{
			return DmaId.ToString(CultureInfo.InvariantCulture) + "/" + ElementId.ToString(CultureInfo.InvariantCulture)
				+ "/" + AlarmId.ToString(CultureInfo.InvariantCulture);
		}

		internal static string Shorten(string text)
		{
			return text.Length <= 40 ? text : text.Substring(0, 40) + "...";
		}
	}

	/// <summary>The six alarm parameters the hyperlink passes.</summary>
	public sealed class AlarmDetails
	{
		public AlarmRef Alarm { get; set; }

		public string ElementName { get; set; }

		public string AlarmValue { get; set; }

		public string RootTime { get; set; }

		/// <summary>Reads DMA ID, Element ID, Alarm ID, Element Name, Alarm Value and Root Time.</summary>
		public static AlarmDetails FromScript(IEngine engine)
		{
			var details = new AlarmDetails
			{
				Alarm = AlarmRef.Parse(
					ScriptParams.Get(engine, OceaneNames.DmaIdParam),
					ScriptParams.Get(engine, OceaneNames.ElementIdParam),
					ScriptParams.Get(engine, OceaneNames.AlarmIdParam)),
				ElementName = ScriptParams.Get(engine, OceaneNames.ElementNameParam),
				AlarmValue = ScriptParams.Optional(engine, OceaneNames.AlarmValueParam),
				RootTime = ScriptParams.Optional(engine, OceaneNames.RootTimeParam),
			};
			if (details.ElementName.Length == 0)
			{
				throw new InputException(OceaneNames.ElementNameParam + ": required (the hyperlink passes [ENAME])");
			}

			return details;
		}
	}

	/// <summary>Who writes the ticket onto the alarm: the worker (udapi, webservices) or this script (none).</summary>
	public enum AlarmWriter
	{
		None,
		UserDefinedApi,
		WebServices,
	}

	/// <summary>Where the intake is, its token, and the OCEANE_ALARM_WRITER mode it runs with.</summary>
	public sealed class IntakeSettings
	{
		private IntakeSettings(Uri baseUrl, string token, AlarmWriter writer)
		{
			BaseUrl = baseUrl;
			Token = token;
			Writer = writer;
		}

		public Uri BaseUrl { get; private set; }

		/// <summary>Gets the bearer token. Never logged or shown: messages name only the URL.</summary>
		public string Token { get; private set; }

		public AlarmWriter Writer { get; private set; }

		/// <summary>Reads Intake URL, Intake Token and Alarm Writer.</summary>
		public static IntakeSettings FromScript(IEngine engine)
		{
			return Create(
				ScriptParams.Get(engine, OceaneNames.IntakeUrlParam),
				ScriptParams.Get(engine, OceaneNames.IntakeTokenParam),
				ScriptParams.Optional(engine, OceaneNames.AlarmWriterParam));
		}

		/// <summary>Validates the three settings.</summary>
		public static IntakeSettings Create(string url, string token, string writer)
		{
			Uri baseUrl;
			if (!Uri.TryCreate(url, UriKind.Absolute, out baseUrl)
				|| (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
			{
				throw new InputException(OceaneNames.IntakeUrlParam + ": expected an http(s) URL such as https://oceane-intake.example.net, got '"
					+ AlarmRef.Shorten(url ?? string.Empty) + "'");
			}

			if (string.IsNullOrWhiteSpace(token))
			{
				throw new InputException(OceaneNames.IntakeTokenParam + ": required (the intake's bearer token)");
			}

			return new IntakeSettings(baseUrl, token.Trim(), ParseWriter(writer));
		}

		/// <summary>none | udapi | webservices, as OCEANE_ALARM_WRITER; empty means udapi.</summary>
		public static AlarmWriter ParseWriter(string raw)
		{
			switch ((raw ?? string.Empty).Trim().ToLowerInvariant())
			{
				case "":
				case "udapi":
					return AlarmWriter.UserDefinedApi;
				case "webservices":
					return AlarmWriter.WebServices;
				case "none":
					return AlarmWriter.None;
				default:
					throw new InputException(OceaneNames.AlarmWriterParam + ": expected none, udapi or webservices, got '"
						+ AlarmRef.Shorten(raw) + "'");
			}
		}
	}

	/// <summary>JSON through the framework's JavaScriptSerializer (no third-party DLL to deploy).</summary>
	public static class Json
	{
		public static object Parse(string text)
		{
			var serializer = new JavaScriptSerializer { MaxJsonLength = 4 * 1024 * 1024 };
			return serializer.DeserializeObject(text);
		}

		/// <summary>Parses an answer of the intake; not JSON is the intake's fault, reported as such.</summary>
		public static object ParseAnswer(string text)
		{
			try
			{
				return Parse(text ?? string.Empty);
			}
			catch (ArgumentException)
			{
				throw new IntakeException(0, "the intake answered something that is not JSON");
			}
			catch (InvalidOperationException)
			{
				throw new IntakeException(0, "the intake answered something that is not JSON");
			}
		}

		public static string Serialize(object value)
		{
			return new JavaScriptSerializer().Serialize(value);
		}

		/// <summary>The object's member as text: strings as they are, numbers in invariant culture, else empty.</summary>
		public static string Str(IDictionary<string, object> obj, string key)
		{
			object value;
			if (obj == null || !obj.TryGetValue(key, out value) || value == null)
			{
				return string.Empty;
			}

			if (value is string)
			{
				return (string)value;
			}

			if (value is bool)
			{
				return (bool)value ? "true" : "false";
			}

			var formattable = value as IFormattable;
			return formattable != null ? formattable.ToString(null, CultureInfo.InvariantCulture) : value.ToString();
		}

		public static bool Bool(IDictionary<string, object> obj, string key)
		{
			object value;
			return obj != null && obj.TryGetValue(key, out value) && value is bool && (bool)value;
		}

		public static List<string> Strings(IDictionary<string, object> obj, string key)
		{
			object value;
			var result = new List<string>();
			if (obj != null && obj.TryGetValue(key, out value) && value is IEnumerable && !(value is string))
			{
				foreach (object item in (IEnumerable)value)
				{
					if (item != null)
					{
						result.Add(Convert.ToString(item, CultureInfo.InvariantCulture));
					}
				}
			}

			return result;
		}
	}

	/// <summary>The intake's answer object for one ticket request.</summary>
	public sealed class TicketAnswer
	{
		public string Instance { get; set; }

		/// <summary>Gets or sets queued, processing, created or failed.</summary>
		public string Status { get; set; }

		public string TicketId { get; set; }

		public string TicketUrl { get; set; }

		/// <summary>Gets or sets a value indicating whether this is the alarm's open request rather than a new one.</summary>
		public bool Existing { get; set; }

		public string Error { get; set; }

		public bool IsCreated
		{
			get { return Status == "created"; }
		}

		public bool IsFailed
		{
			get { return Status == "failed"; }
		}

		public bool IsPending
		{
			get { return Status == "queued" || Status == "processing"; }
		}

		public static TicketAnswer FromJson(string body)
		{
			var obj = Json.ParseAnswer(body) as IDictionary<string, object>;
			if (obj == null)
			{
				throw new IntakeException(0, "the intake answered something that is not a JSON object");
			}

			return new TicketAnswer
			{
				Instance = Json.Str(obj, "instance"),
				Status = Json.Str(obj, "status"),
				TicketId = Json.Str(obj, "ticketId"),
				TicketUrl = Json.Str(obj, "ticketUrl"),
				Existing = Json.Bool(obj, "existing"),
				Error = Json.Str(obj, "error"),
			};
		}
	}

	/// <summary>The allowed values of each dialog field (GET /form).</summary>
	public sealed class FormSpec
	{
		public List<string> Priorities { get; set; }

		public List<string> Urgencies { get; set; }

		public List<string> TechnicalImpacts { get; set; }

		public List<string> ClientImpacts { get; set; }

		public int DescriptionMaxLength { get; set; }

		public static FormSpec FromJson(string body)
		{
			var obj = Json.ParseAnswer(body) as IDictionary<string, object>;
			if (obj == null)
			{
				throw new IntakeException(0, "the intake's /form answer is not a JSON object");
			}

			int maxLength;
			if (!int.TryParse(Json.Str(obj, "descriptionMaxLength"), NumberStyles.None, CultureInfo.InvariantCulture, out maxLength))
			{
				maxLength = 4000;
			}

			return new FormSpec
			{
				Priorities = Json.Strings(obj, "priority"),
				Urgencies = Json.Strings(obj, "urgency"),
				TechnicalImpacts = Json.Strings(obj, "technicalImpact"),
				ClientImpacts = Json.Strings(obj, "clientImpact"),
				DescriptionMaxLength = maxLength,
			};
		}
	}

	/// <summary>The operator's (or the rule's) ticket details.</summary>
	public sealed class TicketRequest
	{
		public string Priority { get; set; }

		public string Urgency { get; set; }

		public string TechnicalImpact { get; set; }

		public string ClientImpact { get; set; }

		public string Description { get; set; }

		public string User { get; set; }

		/// <summary>The first problem a person can fix in the dialog, or null. The intake validates again.</summary>
		public string Check(FormSpec form)
		{
			if (string.IsNullOrEmpty(Priority))
			{
				return "Priority is required";
			}

			if (string.IsNullOrEmpty(Urgency))
			{
				return "Urgency is required";
			}

			if (string.IsNullOrEmpty(TechnicalImpact))
			{
				return "Technical Impact is required";
			}

			if (form != null && (Description ?? string.Empty).Length > form.DescriptionMaxLength)
			{
				return "Description is " + (Description ?? string.Empty).Length.ToString(CultureInfo.InvariantCulture)
					+ " characters long; at most " + form.DescriptionMaxLength.ToString(CultureInfo.InvariantCulture) + " are allowed";
			}

			return null;
		}

		/// <summary>The POST /tickets body (camelCase, as the intake's contract).</summary>
		public string ToJson(AlarmDetails alarm)
		{
			var body = new Dictionary<string, object>
			{
				{ "dmaId", alarm.Alarm.DmaId },
				{ "elementId", alarm.Alarm.ElementId },
				{ "alarmId", alarm.Alarm.AlarmId },
				{ "elementName", alarm.ElementName },
				{ "alarmValue", alarm.AlarmValue ?? string.Empty },
				{ "rootTime", alarm.RootTime ?? string.Empty },
				{ "priority", Priority },
				{ "urgency", Urgency },
				{ "technicalImpact", TechnicalImpact },
				{ "clientImpact", ClientImpact ?? string.Empty },
				{ "description", Description ?? string.Empty },
				{ "user", User ?? string.Empty },
			};
			return Json.Serialize(body);
		}
	}

	/// <summary>The intake could not be reached or refused the call; StatusCode 0 means no HTTP answer.</summary>
	public sealed class IntakeException : Exception
	{
		public IntakeException(int statusCode, string detail)
			: base(statusCode == 0 ? detail : "the intake answered HTTP " + statusCode.ToString(CultureInfo.InvariantCulture) + ": " + detail)
		{
			StatusCode = statusCode;
			Detail = detail;
		}

		public int StatusCode { get; private set; }

		public string Detail { get; private set; }
	}

	/// <summary>The oceane-ticket HTTP intake (POST/GET /tickets, GET /form), bearer-authenticated.</summary>
	public sealed class IntakeClient : IDisposable
	{
		private readonly HttpClient http;
		private readonly string baseUrl;

		public IntakeClient(IntakeSettings settings)
		{
			// .NET Framework 4.x may still default to TLS 1.0; the intake behind a proxy will want 1.2.
			ServicePointManager.SecurityProtocol |= SecurityProtocolType.Tls12;
			baseUrl = settings.BaseUrl.AbsoluteUri.TrimEnd('/');
			// Above the longest wait the scripts ask for (60 s) so the intake, not the socket, ends a wait.
			http = new HttpClient { Timeout = TimeSpan.FromSeconds(90) };
			http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Token);
			http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
		}

		/// <summary>The alarm's request (open, or the latest), or null when it has none (404).</summary>
		public TicketAnswer FindTicket(AlarmRef alarm)
		{
			string path = "/tickets?dmaId=" + alarm.DmaId.ToString(CultureInfo.InvariantCulture)
				+ "&elementId=" + alarm.ElementId.ToString(CultureInfo.InvariantCulture)
				+ "&alarmId=" + alarm.AlarmId.ToString(CultureInfo.InvariantCulture);
			Reply reply = Send(HttpMethod.Get, path, null);
			if (reply.Code == 404)
			{
				return null;
			}

			Expect(reply, 200);
			return TicketAnswer.FromJson(reply.Body);
		}

		public FormSpec GetForm()
		{
			Reply reply = Send(HttpMethod.Get, "/form", null);
			Expect(reply, 200);
			return FormSpec.FromJson(reply.Body);
		}

		/// <summary>POST /tickets?wait=N: a new request (201) or the alarm's open one (200).</summary>
		public TicketAnswer CreateTicket(AlarmDetails alarm, TicketRequest request, int waitSeconds)
		{
			int wait = Math.Max(0, Math.Min(60, waitSeconds));
			Reply reply = Send(HttpMethod.Post, "/tickets?wait=" + wait.ToString(CultureInfo.InvariantCulture), request.ToJson(alarm));
			Expect(reply, 200, 201);
			return TicketAnswer.FromJson(reply.Body);
		}

		public TicketAnswer GetTicket(string instance)
		{
			Reply reply = Send(HttpMethod.Get, "/tickets/" + Uri.EscapeDataString(instance), null);
			Expect(reply, 200);
			return TicketAnswer.FromJson(reply.Body);
		}

		public void Dispose()
		{
			http.Dispose();
		}

		/// <summary>The readable part of an error answer: FastAPI's detail (a string or a list naming fields).</summary>
		public static string DetailOf(string body)
		{
			object parsed;
			try
			{
				parsed = Json.Parse(body ?? string.Empty);
			}
			catch (ArgumentException)
			{
				return AlarmRef.Shorten((body ?? string.Empty).Trim());
			}

			var obj = parsed as IDictionary<string, object>;
			object detail;
			if (obj == null || !obj.TryGetValue("detail", out detail) || detail == null)
			{
				return AlarmRef.Shorten((body ?? string.Empty).Trim());
			}

			if (detail is string)
			{
				return (string)detail;
			}

			var parts = new List<string>();
			var items = detail as IEnumerable;
			foreach (object item in items ?? new object[] { detail })
			{
				var entry = item as IDictionary<string, object>;
				if (entry == null)
				{
					parts.Add(Convert.ToString(item, CultureInfo.InvariantCulture));
					continue;
				}

				var location = Json.Strings(entry, "loc").Where(part => part != "body" && part != "query");
				string field = string.Join(".", location);
				string message = Json.Str(entry, "msg");
				parts.Add(field.Length > 0 ? field + ": " + message : message);
			}

			return string.Join("; ", parts);
		}

		private static void Expect(Reply reply, params int[] codes)
		{
			if (codes.Contains(reply.Code))
			{
				return;
			}

			string detail = DetailOf(reply.Body);
			if (reply.Code == 401)
			{
				detail = "the intake refused the token (check the Intake Token parameter): " + detail;
			}

			throw new IntakeException(reply.Code, detail);
		}

		private Reply Send(HttpMethod method, string path, string jsonBody)
		{
			using (var message = new HttpRequestMessage(method, baseUrl + path))
			{
				if (jsonBody != null)
				{
					message.Content = new StringContent(jsonBody, Encoding.UTF8, "application/json");
				}

				try
				{
					using (HttpResponseMessage response = http.SendAsync(message).GetAwaiter().GetResult())
					{
						string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
						return new Reply((int)response.StatusCode, body);
					}
				}
				catch (HttpRequestException e)
				{
					throw new IntakeException(0, "the intake at " + baseUrl + " is unreachable: " + Innermost(e).Message);
				}
				catch (OperationCanceledException)
				{
					throw new IntakeException(0, "the intake at " + baseUrl + " did not answer within "
						+ http.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s");
				}
			}
		}

		private static Exception Innermost(Exception e)
		{
			while (e.InnerException != null)
			{
				e = e.InnerException;
			}

			return e;
		}

		private sealed class Reply
		{
			public Reply(int code, string body)
			{
				Code = code;
				Body = body;
			}

			public int Code { get; private set; }

			public string Body { get; private set; }
		}
	}

	/// <summary>A request to set Oceane properties on one alarm (the UDAPI body or the web-service parameters).</summary>
	public sealed class PropertyUpdate
	{
		public PropertyUpdate(AlarmRef alarm, IDictionary<string, string> properties)
		{
			Alarm = alarm;
			Properties = properties;
		}

		public AlarmRef Alarm { get; private set; }

		public IDictionary<string, string> Properties { get; private set; }

		/// <summary>
		/// Parses {"dmaId": 12, "elementId": 345, "rootAlarmId": 67890, "properties": {"Oceane Ticket ID": "..."}}.
		/// </summary>
		public static PropertyUpdate ParseJson(string body)
		{
			if (string.IsNullOrWhiteSpace(body))
			{
				throw new InputException("body: expected a JSON object, got an empty body");
			}

			object parsed;
			try
			{
				parsed = Json.Parse(body);
			}
			catch (ArgumentException)
			{
				throw new InputException("body: not valid JSON");
			}
			catch (InvalidOperationException)
			{
				throw new InputException("body: not valid JSON");
			}

			var obj = parsed as IDictionary<string, object>;
			if (obj == null)
			{
				throw new InputException("body: expected a JSON object");
			}

			var alarm = new AlarmRef(IdMember(obj, "dmaId"), IdMember(obj, "elementId"), IdMember(obj, "rootAlarmId"));
			object rawProperties;
			var properties = obj.TryGetValue("properties", out rawProperties) ? rawProperties as IDictionary<string, object> : null;
			if (properties == null)
			{
				throw new InputException("properties: expected an object of alarm property names to string values");
			}

			var values = new Dictionary<string, string>();
			foreach (KeyValuePair<string, object> pair in properties)
			{
				if (pair.Value != null && !(pair.Value is string))
				{
					throw new InputException("properties." + pair.Key + ": expected a string");
				}

				values[pair.Key] = (string)pair.Value;
			}

			return Create(alarm, values);
		}

		/// <summary>Checks the names and values; null or empty values are dropped (nothing to write).</summary>
		public static PropertyUpdate Create(AlarmRef alarm, IDictionary<string, string> values)
		{
			var checkedValues = new Dictionary<string, string>();
			foreach (KeyValuePair<string, string> pair in values)
			{
				if (!OceaneNames.AlarmProperties.Contains(pair.Key))
				{
					throw new InputException("properties: '" + AlarmRef.Shorten(pair.Key) + "' is not allowed; allowed: "
						+ string.Join(", ", OceaneNames.AlarmProperties));
				}

				string value = (pair.Value ?? string.Empty).Trim();
				if (value.Length > OceaneNames.MaxPropertyLength)
				{
					throw new InputException("properties." + pair.Key + ": longer than "
						+ OceaneNames.MaxPropertyLength.ToString(CultureInfo.InvariantCulture) + " characters");
				}

				if (value.Length > 0)
				{
					checkedValues[pair.Key] = value;
				}
			}

			if (checkedValues.Count == 0)
			{
				throw new InputException("properties: give at least one of " + string.Join(", ", OceaneNames.AlarmProperties)
					+ " with a non-empty value");
			}

			return new PropertyUpdate(alarm, checkedValues);
		}

		/// <summary>Writes every property with the Swarming-safe overload (DMA ID, element ID, root alarm ID).</summary>
		public void Apply(IEngine engine)
		{
			foreach (string name in OceaneNames.AlarmProperties)
			{
				string value;
				if (Properties.TryGetValue(name, out value))
				{
					engine.SetAlarmProperty(Alarm.DmaId, Alarm.ElementId, Alarm.AlarmId, name, value);
				}
			}
		}

		/// <summary>The answer body: what was set on which alarm.</summary>
		public string ToJson()
		{
			var set = new Dictionary<string, object>();
			foreach (KeyValuePair<string, string> pair in Properties)
			{
				set[pair.Key] = pair.Value;
			}

			return Json.Serialize(new Dictionary<string, object>
			{
				{ "dmaId", Alarm.DmaId },
				{ "elementId", Alarm.ElementId },
				{ "rootAlarmId", Alarm.AlarmId },
				{ "properties", set },
			});
		}

		/// <summary>The ticket ID and URL of a created ticket (what writer mode none writes from the script).</summary>
		public static PropertyUpdate ForTicket(AlarmRef alarm, TicketAnswer answer)
		{
			return Create(alarm, new Dictionary<string, string>
			{
				{ OceaneNames.TicketIdProperty, answer.TicketId },
				{ OceaneNames.TicketUrlProperty, answer.TicketUrl },
			});
		}

		/// <summary>Writes a created ticket onto its alarm; the reason it could not, or null.</summary>
		public static string TryWriteTicket(IEngine engine, AlarmRef alarm, TicketAnswer answer)
		{
			try
			{
				ForTicket(alarm, answer).Apply(engine);
				return null;
			}
			catch (ScriptAbortException)
			{
				throw;
			}
			catch (Exception e)
			{
				// E.g. the alarm cleared meanwhile, or the intake's answer had no ticket ID: report, do not crash.
				string reason = "could not write the ticket onto alarm " + alarm + ": " + e.Message;
				engine.Log("Oceane: " + reason);
				return reason;
			}
		}

		private static int IdMember(IDictionary<string, object> obj, string key)
		{
			object value;
			if (!obj.TryGetValue(key, out value) || value == null)
			{
				throw new InputException(key + ": required (a positive integer)");
			}

			if (value is bool || value is IDictionary || (value is IEnumerable && !(value is string)))
			{
				throw new InputException(key + ": expected a positive integer");
			}

			return AlarmRef.ParseId(key, Convert.ToString(value, CultureInfo.InvariantCulture));
		}
	}
}
