// The oceane-ticket HTTP intake, bearer-authenticated, and its failures.
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

	/// <summary>The intake could not be reached or refused the call; StatusCode 0 means no HTTP answer.</summary>
	public sealed class IntakeException : Exception
	{
		public IntakeException(int statusCode, string detail)
			: this(statusCode, detail, string.Empty)
		{
		}

		public IntakeException(int statusCode, string detail, string field)
			: base(statusCode == 0 ? detail : "the intake answered HTTP " + statusCode.ToString(CultureInfo.InvariantCulture) + ": " + detail)
		{
			StatusCode = statusCode;
			Detail = detail;
			Field = field ?? string.Empty;
		}

		public int StatusCode { get; private set; }

		public string Detail { get; private set; }

		/// <summary>Gets the first field a 422 names (the intake's "field"), or empty.</summary>
		public string Field { get; private set; }

		/// <summary>Gets a value indicating whether the request got no answer at all (the connection failed).</summary>
		public bool Unanswered { get; internal set; }
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
		public TicketAnswer CreateTicket(AlarmDetails alarm, TicketDetails request, int waitSeconds)
		{
			int wait = Math.Max(0, Math.Min(60, waitSeconds));
			Reply reply = Send(HttpMethod.Post, "/tickets?wait=" + wait.ToString(CultureInfo.InvariantCulture), request.ToJson(alarm));
			Expect(reply, 200, 201);
			return TicketAnswer.FromJson(reply.Body);
		}

		/// <summary>A JSON object the intake serves (GET), e.g. a page of /tables/tickets for the GQI data source.</summary>
		public IDictionary<string, object> GetObject(string pathAndQuery)
		{
			Reply reply = Send(HttpMethod.Get, pathAndQuery, null);
			Expect(reply, 200);
			var obj = Json.ParseAnswer(reply.Body) as IDictionary<string, object>;
			if (obj == null)
			{
				throw new IntakeException(0, "the intake's answer to " + pathAndQuery.Split('?')[0] + " is not a JSON object");
			}

			return obj;
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

		/// <summary>
		/// The readable part of an error answer: the intake's {"error": "field: why; other: why"}, else a FastAPI-style
		/// detail (a string or a list naming fields), else the start of the body.
		/// </summary>
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
			if (obj != null && Json.Str(obj, "error").Length > 0)
			{
				return Json.Str(obj, "error");
			}

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

		private static string FieldOf(string body)
		{
			try
			{
				return Json.Str(Json.Parse(body ?? string.Empty) as IDictionary<string, object>, "field");
			}
			catch (ArgumentException)
			{
				return string.Empty;
			}
			catch (InvalidOperationException)
			{
				return string.Empty;
			}
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
				detail = "the intake refused the token (check intakeToken in " + IntakeSettings.FilePath + " on this Agent): " + detail;
			}

			throw new IntakeException(reply.Code, detail, FieldOf(reply.Body));
		}

		private Reply Send(HttpMethod method, string path, string jsonBody)
		{
			// One more try, on a new connection, when the request never got an answer: a kept-alive
			// connection the intake (uvicorn closes idle ones after 5 s) or a proxy closed meanwhile
			// fails the next request sent on it, typically the create after the operator took a while
			// over the dialog. Every intake call is safe to repeat: lookups read, a create for an alarm
			// that has a request answers that request, an event is recorded once per eventId.
			try
			{
				return SendOnce(method, path, jsonBody);
			}
			catch (IntakeException e) when (e.Unanswered)
			{
				return SendOnce(method, path, jsonBody);
			}
		}

		private Reply SendOnce(HttpMethod method, string path, string jsonBody)
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
					throw new IntakeException(0, "the intake at " + baseUrl + " is unreachable: " + Innermost(e).Message) { Unanswered = true };
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
}
