// POST /alarms/events: the alarm event scripts' one call to the intake (Oceane Add Note, Oceane Alarm Event).
namespace Oceane.DataMiner
{
	using System;
	using System.Collections.Generic;
	using System.Net.Http;
	using System.Net.Http.Headers;
	using System.Text;

	/// <summary>POST /alarms/events with the intake's bearer token; the intake's result word.</summary>
	public static class AlarmEventPost
	{
		/// <summary>recorded, duplicate or no_ticket; throws InputException with the intake's answer otherwise.</summary>
		public static string Send(IntakeSettings settings, Dictionary<string, object> body)
		{
			using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
			{
				var request = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.BaseUrl, "/alarms/events"));
				request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.Token);
				request.Content = new StringContent(Json.Serialize(body), Encoding.UTF8, "application/json");
				HttpResponseMessage response;
				try
				{
					response = http.SendAsync(request).Result;
				}
				catch (AggregateException e)
				{
					throw new InputException("the intake at " + settings.BaseUrl + " did not answer: " + e.InnerException.Message);
				}

				string text = response.Content.ReadAsStringAsync().Result;
				var answer = Json.ParseAnswer(text) as Dictionary<string, object>;
				int status = (int)response.StatusCode;
				if ((status == 200 || status == 202) && answer != null && answer.ContainsKey("result"))
				{
					return Convert.ToString(answer["result"]);
				}

				string error = answer != null && answer.ContainsKey("error") ? Convert.ToString(answer["error"]) : AlarmRef.Shorten(text);
				throw new InputException("the intake refused the event (HTTP " + status + "): " + error);
			}
		}
	}
}
