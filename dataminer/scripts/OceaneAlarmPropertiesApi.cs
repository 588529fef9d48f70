// Automation script "Oceane Alarm Properties API": the User-Defined API behind
// POST https://<dma>/api/custom/oceane/alarm-properties (OCEANE_ALARM_WRITER=udapi). DataMiner checks the
// bearer token before the script runs. Body:
//   {"dmaId": 12, "elementId": 345, "rootAlarmId": 67890,
//    "properties": {"Oceane Ticket ID": "...", "Oceane Ticket URL": "...", "Oceane Ticket Status": "..."}}
// Answers 200 with what was set, 400 naming the bad field, 405 for another method, 500 when DataMiner
// refused the set (e.g. the alarm is gone). Errors use the shape DataMiner recommends for API scripts,
// {"errors": [{"title", "detail"}]} without an errorCode (SkylineCommunications/dataminer-docs,
// user-guide/Advanced_Modules/User-Defined_APIs/UD_APIs_Triggering_an_API.md, "Errors"): the endpoint's own
// failures (401, 404, 415, 429, 503) come in that shape with an errorCode, so a caller reads one shape.
namespace OceaneAlarmPropertiesApi
{
	using System;
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;
	using Skyline.DataMiner.Net.Apps.UserDefinableApis.Actions;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>Sets the Oceane properties named in the body on the alarm it names.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		/// <param name="requestData">The API call.</param>
		/// <returns>The HTTP answer.</returns>
		[AutomationEntryPoint(AutomationEntryPointType.Types.OnApiTrigger)]
		public ApiTriggerOutput OnApiTrigger(IEngine engine, ApiTriggerInput requestData)
		{
			if (requestData.RequestMethod != RequestMethod.Post)
			{
				return Answer(StatusCode.MethodNotAllowed, Error("method: use POST"));
			}

			PropertyUpdate update;
			try
			{
				update = PropertyUpdate.ParseJson(requestData.RawBody);
			}
			catch (InputException e)
			{
				return Answer(StatusCode.BadRequest, Error(e.Message));
			}

			try
			{
				update.Apply(engine);
			}
			catch (ScriptAbortException)
			{
				throw;
			}
			catch (Exception e)
			{
				// A 5xx tells the caller to try again later; the message tells an operator which alarm and why.
				engine.Log("Oceane Alarm Properties API: setting properties on alarm " + update.Alarm + " failed: " + e.Message);
				return Answer(StatusCode.InternalServerError, Error("DataMiner could not set the properties on alarm " + update.Alarm + ": " + e.Message));
			}

			return Answer(StatusCode.Ok, update.ToJson());
		}

		private static string Error(string message)
		{
			var error = new Dictionary<string, object> { { "title", "The Oceane properties were not set." }, { "detail", message } };
			return Json.Serialize(new Dictionary<string, object> { { "errors", new object[] { error } } });
		}

		private static ApiTriggerOutput Answer(StatusCode code, string body)
		{
			return new ApiTriggerOutput { ResponseCode = (int)code, ResponseBody = body };
		}
	}
}
