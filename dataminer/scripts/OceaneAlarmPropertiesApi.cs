// Automation script "Oceane Alarm Properties API": the User-Defined API behind
// POST https://<dma>/api/custom/oceane/alarm-properties (OCEANE_ALARM_WRITER=udapi). DataMiner checks the
// bearer token before the script runs. Body:
//   {"dmaId": 12, "elementId": 345, "rootAlarmId": 67890,
//    "properties": {"Oceane Ticket ID": "...", "Oceane Ticket URL": "...", "Oceane Ticket Status": "..."}}
// Answers 200 with what was set, 400 naming the bad field, 405 for another method, 500 when DataMiner
// refused the set (e.g. the alarm is gone).
namespace OceaneAlarmPropertiesApi
{
	using System;
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;
	using Skyline.DataMiner.Net.Apps.UserDefinableApis;
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
				// The worker retries on 5xx; the message tells an operator which alarm and why.
				engine.Log("Oceane Alarm Properties API: setting properties on alarm " + update.Alarm + " failed: " + e.Message);
				return Answer(StatusCode.InternalServerError, Error("DataMiner could not set the properties on alarm " + update.Alarm + ": " + e.Message));
			}

			return Answer(StatusCode.Ok, update.ToJson());
		}

		private static string Error(string message)
		{
			return Json.Serialize(new Dictionary<string, object> { { "error", message } });
		}

		private static ApiTriggerOutput Answer(StatusCode code, string body)
		{
			return new ApiTriggerOutput { ResponseCode = (int)code, ResponseBody = body };
		}
	}
}
